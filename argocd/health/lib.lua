-- Conditions helpers shared by every Herder health check. Argo CD runs each health script on its own (no
-- require), so hack/gen-argocd-cm.py pastes this file into each health.lua at its "-- INCLUDE lib.lua" line.
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
  NoProductionVersion = true,
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
