-- Skip the remaining canary steps (and any pause) and promote the canary now.
-- Sets metadata.annotations["herder.dev/promote"] to the current UTC time; a new value is a new request.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/promote"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
