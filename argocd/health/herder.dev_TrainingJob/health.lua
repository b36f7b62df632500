-- Argo CD health check for herder.dev/TrainingJob (resource.customizations.health.herder.dev_TrainingJob).
-- Healthy: Succeeded=True (terminal). Degraded: Failed=True (terminal), or Ready=False with a non-progress reason
-- (InvalidSpec, DatasetNotFound, ...). Progressing: not yet observed, Running, or any progress reason.
-- INCLUDE lib.lua (condition, describe, unobserved, from_ready, bad_news: hack/gen-argocd-cm.py pastes them here)

local failed = condition(obj, "Failed")
if failed ~= nil and failed.status == "True" then
  return { status = "Degraded", message = "Failed: " .. describe(failed) }
end
local succeeded = condition(obj, "Succeeded")
if succeeded ~= nil and succeeded.status == "True" then
  local msg = describe(succeeded)
  if obj.status.producedVersion ~= nil then
    msg = "produced version " .. tostring(obj.status.producedVersion) .. " (" .. msg .. ")"
  end
  return { status = "Healthy", message = msg }
end
local hs = unobserved(obj)
if hs ~= nil then
  return hs
end
hs = bad_news(obj, "Stalled", "Stalled: ")
if hs ~= nil then
  return hs
end
hs = from_ready(condition(obj, "Ready"))
if hs.status == "Healthy" then
  -- Ready but not finished: the training Job is running.
  local running = condition(obj, "Running")
  if running ~= nil and running.status == "True" then
    return { status = "Progressing", message = describe(running) }
  end
  return { status = "Progressing", message = "Training has not finished: " .. hs.message }
end
return hs
