-- Argo CD health check for herder.dev/ModelVersion (resource.customizations.health.herder.dev_ModelVersion).
-- Healthy: Ready=True. Degraded: Rejected=True (the promotion gate rejected this version: it will never serve
-- production, which is a final verdict and not a pause, so it is Degraded rather than Suspended), or Ready=False
-- with a non-progress reason (ModelNotFound, ArtifactDigestMismatch, ...). Progressing: not yet observed, or a
-- progress reason.
-- INCLUDE lib.lua (condition, describe, unobserved, from_ready, bad_news: hack/gen-argocd-cm.py pastes them here)

local hs = unobserved(obj)
if hs ~= nil then
  return hs
end
local rejected = condition(obj, "Rejected")
if rejected ~= nil and rejected.status == "True" then
  return { status = "Degraded", message = "Rejected by the promotion gate: " .. describe(rejected) }
end
hs = bad_news(obj, "Stalled", "Stalled: ")
if hs ~= nil then
  return hs
end
return from_ready(condition(obj, "Ready"))
