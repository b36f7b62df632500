-- Promote the candidate version (status.aliases.candidate) to production, for Models that do not promote
-- automatically. Sets metadata.annotations["herder.dev/promote"] to the current UTC time.
local aliases = (obj.status or {}).aliases or {}
if aliases.candidate == nil or aliases.candidate == aliases.production then
  error("nothing to promote: status.aliases.candidate is not set (or is already production)", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/promote"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
