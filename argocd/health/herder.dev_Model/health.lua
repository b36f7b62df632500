-- Argo CD health check for herder.dev/Model (resource.customizations.health.herder.dev_Model).
-- Healthy: Ready=True (the message names the production and candidate versions, and a retrain waiting for
-- approval). Suspended: Ready=False with reason AwaitingApproval or Paused. Progressing: not yet observed, or a
-- progress reason. Degraded: any other reason.
-- INCLUDE lib.lua (condition, describe, unobserved, from_ready, bad_news: hack/gen-argocd-cm.py pastes them here)

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
