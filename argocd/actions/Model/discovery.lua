-- Argo CD action discovery for herder.dev/Model. Actions only set annotations: the operator never edits spec,
-- and neither do we, so the Application stays in sync.
local actions = {}
actions["retrain"] = { ["disabled"] = false, ["iconClass"] = "fa fa-fw fa-redo", ["displayName"] = "Retrain now" }

-- The version waiting for approval is the candidate alias, when it is not already production.
local pending = nil
if obj.status ~= nil and obj.status.aliases ~= nil then
  local candidate = obj.status.aliases.candidate
  if candidate ~= nil and candidate ~= obj.status.aliases.production then
    pending = candidate
  end
end
actions["approve"] = {
  ["disabled"] = pending == nil,
  ["iconClass"] = "fa fa-fw fa-check",
  ["displayName"] = pending ~= nil and ("Approve version " .. tostring(pending)) or "Approve (nothing pending)",
}
return actions
