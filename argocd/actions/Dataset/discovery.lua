-- Argo CD action discovery for herder.dev/Dataset. The action only sets an annotation (the name is the
-- operator's, herder.api.annotations): the operator never edits spec, and neither do we.
local validated = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Validated" then
      validated = c
    end
  end
end
local actions = {}
actions["refresh"] = {
  ["disabled"] = validated ~= nil and validated.status == "Unknown",
  ["iconClass"] = "fa fa-fw fa-sync",
  ["displayName"] = "Read the source again",
}
return actions
