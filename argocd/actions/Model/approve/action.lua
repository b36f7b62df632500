-- Approve the version waiting for approval (status.aliases.candidate, when it is not production): sets
-- metadata.annotations["herder.dev/approve"] to that version, so the approval names exactly what was reviewed.
local pending = nil
if obj.status ~= nil and obj.status.aliases ~= nil then
  local candidate = obj.status.aliases.candidate
  if candidate ~= nil and candidate ~= obj.status.aliases.production then
    pending = candidate
  end
end
if pending == nil then
  error("nothing to approve: status.aliases.candidate is not set (or is already production)", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/approve"] = tostring(pending)
return obj
