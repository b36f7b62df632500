-- Argo CD health check for herder.dev/ModelDeployment (resource.customizations.health.herder.dev_ModelDeployment).
-- Degraded: Degraded=True (a rollout was aborted and rolled back; the message names the rollback), or Ready=False
-- with a non-progress reason (ModelNotFound, InvalidSpec, ...). Suspended: status.paused=true (a paused canary
-- rollout, waiting for a person: resume it with the promote action). Progressing: not yet observed, or
-- Progressing=True (a rollout is under way; the message names the canary version, weight and step). Healthy: Ready=True.
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
local st = obj.status
local degraded = condition(obj, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  local msg = describe(degraded)
  if st.lastRollback ~= nil and st.lastRollback.from ~= nil and st.lastRollback.to ~= nil then
    msg = msg .. " (rolled back from " .. tostring(st.lastRollback.from) .. " to " .. tostring(st.lastRollback.to) .. ")"
  end
  return { status = "Degraded", message = msg }
end
hs = bad_news(obj, "Stalled", "Stalled: ")
if hs ~= nil then
  return hs
end
local ready = condition(obj, "Ready")
hs = from_ready(ready)
if hs.status == "Degraded" then
  return hs
end
local rollout = ""
if st.canaryVersion ~= nil then
  rollout = "canary " .. tostring(st.canaryVersion)
  if st.canaryWeight ~= nil then
    rollout = rollout .. " at " .. tostring(st.canaryWeight) .. "%"
  end
  if st.currentStep ~= nil then
    rollout = rollout .. ", step " .. tostring(st.currentStep)
  end
end
local progressing = condition(obj, "Progressing")
if st.paused == true or (progressing ~= nil and progressing.reason == "Paused") then
  local msg = "Rollout paused"
  if rollout ~= "" then
    msg = msg .. " (" .. rollout .. ")"
  end
  if progressing ~= nil and progressing.message ~= nil and progressing.message ~= "" then
    msg = msg .. ": " .. progressing.message
  end
  return { status = "Suspended", message = msg }
end
if progressing ~= nil and progressing.status == "True" then
  local msg = describe(progressing)
  if rollout ~= "" then
    msg = rollout .. ": " .. msg
  end
  return { status = "Progressing", message = msg }
end
if hs.status == "Healthy" and st.stableVersion ~= nil then
  hs.message = "serving " .. tostring(st.stableVersion) .. (hs.message ~= "" and (" (" .. hs.message .. ")") or "")
end
return hs
