-- Argo CD health check for herder.dev/ModelDeployment (resource.customizations.health.herder.dev_ModelDeployment).
-- Degraded: Degraded=True (a rollout was aborted and rolled back; the message names the rollback), or Ready=False
-- with a non-progress reason (ModelNotFound, InvalidSpec, ...). Suspended: status.paused=true (a paused canary
-- rollout, waiting for a person: resume it with the promote action). Progressing: not yet observed, or
-- Progressing=True (a rollout is under way; the message names the canary version, weight and step). Healthy: Ready=True.
-- INCLUDE lib.lua (condition, describe, unobserved, from_ready, bad_news: hack/gen-argocd-cm.py pastes them here)

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
