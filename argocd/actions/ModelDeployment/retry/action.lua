-- Retry the rollout that was aborted (clears Degraded and starts the canary steps again).
-- Sets metadata.annotations["herder.dev/retry"] to the current UTC time; a new value is a new request.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/retry"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
