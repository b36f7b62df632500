-- Argo CD health check for herder.dev/Dataset (resource.customizations.health.herder.dev_Dataset).
-- Healthy: Ready=True (validated, digest pinned). Progressing: not yet observed, or Ready=False with a progress
-- reason (Pending, Validating, ...). Degraded: Ready=False with any other reason (InvalidSpec, ValidationFailed, ...).
-- INCLUDE lib.lua (condition, describe, unobserved, from_ready, bad_news: hack/gen-argocd-cm.py pastes them here)

local hs = unobserved(obj)
if hs ~= nil then
  return hs
end
hs = bad_news(obj, "Stalled", "Stalled: ")
if hs ~= nil then
  return hs
end
return from_ready(condition(obj, "Ready"))
