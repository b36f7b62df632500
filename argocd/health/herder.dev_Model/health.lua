-- Argo CD health check for herder.dev/Model (resource.customizations.health.herder.dev_Model).
-- Healthy: Ready=True (the message names the production and candidate versions, and a retrain waiting for
-- approval). Suspended: Ready=False with reason AwaitingApproval or Paused. Progressing: not yet observed, or a
-- progress reason. Degraded: any other reason.
-- BEGIN shared helpers (identical in every Herder health.lua; a test keeps them in sync)
-- Conditions helpers (Argo CD runs each script on its own, so every health.lua carries these few lines).
local function condition(o, ctype)
  if o.status == nil or o.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(o.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    if text ~= "" then
      text = text .. ": "
    end
    text = text .. c.message
  end
  return text
end

-- Reasons that mean "still working on it" while Ready is False (the operator's quiet, progress reasons).
local PROGRESS_REASONS = {
  Pending = true, Progressing = true, Running = true, Waiting = true, Creating = true, Reconciling = true,
  Validating = true, Training = true, Evaluating = true, Deploying = true, RollingOut = true, Scaling = true,
}
-- Reasons that mean "waiting for a person" while Ready is False.
local SUSPEND_REASONS = { Paused = true, AwaitingApproval = true }

-- Returns a status when the object is not yet (fully) observed by the operator, else nil.
local function unobserved(o)
  local gen = o.metadata.generation
  if o.status == nil or o.status.conditions == nil then
    return { status = "Progressing", message = "Waiting for the Herder operator to reconcile" }
  end
  local observed = o.status.observedGeneration
  if gen ~= nil and observed ~= nil and observed < gen then
    return { status = "Progressing",
             message = "Waiting for the Herder operator to observe generation " .. tostring(gen) }
  end
  local ready = condition(o, "Ready")
  if ready == nil then
    return { status = "Progressing", message = "Waiting for the Ready condition" }
  end
  if gen ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < gen then
    return { status = "Progressing",
             message = "Waiting for the Herder operator to observe generation " .. tostring(gen) }
  end
  return nil
end

-- The verdict of a Ready condition: Healthy, Suspended, Progressing or Degraded.
local function from_ready(ready)
  if ready.status == "True" then
    return { status = "Healthy", message = describe(ready) }
  end
  if ready.reason ~= nil and SUSPEND_REASONS[ready.reason] then
    return { status = "Suspended", message = describe(ready) }
  end
  if ready.status == "Unknown" or ready.reason == nil or ready.reason == "" or PROGRESS_REASONS[ready.reason] then
    return { status = "Progressing", message = describe(ready) }
  end
  return { status = "Degraded", message = describe(ready) }
end

-- A condition type whose True status is bad news (Stalled on any kind).
local function bad_news(o, ctype, prefix)
  local c = condition(o, ctype)
  if c ~= nil and c.status == "True" then
    return { status = "Degraded", message = prefix .. describe(c) }
  end
  return nil
end
-- END shared helpers

local hs = unobserved(obj)
if hs ~= nil then
  return hs
end
hs = bad_news(obj, "Stalled", "Stalled: ")
if hs ~= nil then
  return hs
end
hs = from_ready(condition(obj, "Ready"))
if hs.status == "Healthy" and obj.status.aliases ~= nil then
  local parts = {}
  if obj.status.aliases.production ~= nil then
    table.insert(parts, "production " .. tostring(obj.status.aliases.production))
  end
  if obj.status.aliases.candidate ~= nil then
    table.insert(parts, "candidate " .. tostring(obj.status.aliases.candidate))
  end
  if #parts > 0 then
    local aliases = table.concat(parts, ", ")
    if hs.message ~= "" then
      hs.message = aliases .. " (" .. hs.message .. ")"
    else
      hs.message = aliases
    end
  end
end
local retraining = obj.status ~= nil and obj.status.retraining or nil
if hs.status == "Healthy" and retraining ~= nil and retraining.pendingApproval ~= nil then
  -- Production still serves: stay Healthy, but say a person is awaited (the approve action).
  hs.message = hs.message .. "; retrain awaiting approval (" .. tostring(retraining.pendingApproval) .. ")"
end
return hs
