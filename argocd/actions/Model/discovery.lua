-- Argo CD action discovery for herder.dev/Model. Actions only set annotations (the names are the operator's,
-- herder.api.annotations): the operator never edits spec, and neither do we, so the Application stays in sync.
local st = obj.status or {}
local retraining = st.retraining or {}
local aliases = st.aliases or {}
local candidate = aliases.candidate
local promotable = candidate ~= nil and candidate ~= aliases.production

local actions = {}
actions["retrain"] = {
  ["disabled"] = retraining.inFlight ~= nil,
  ["iconClass"] = "fa fa-fw fa-redo",
  ["displayName"] = "Retrain now",
}
actions["approve"] = {
  ["disabled"] = retraining.pendingApproval == nil,
  ["iconClass"] = "fa fa-fw fa-check",
  ["displayName"] = "Approve pending retrain",
}
actions["promote"] = {
  ["disabled"] = not promotable,
  ["iconClass"] = "fa fa-fw fa-forward",
  ["displayName"] = promotable and ("Promote version " .. tostring(candidate) .. " to production")
    or "Promote (no candidate)",
}
return actions
