-- Roll back to the last known-good model version (status.lastKnownGoodVersion; aborts a rollout in progress).
-- Sets metadata.annotations["herder.dev/rollback"] to the current UTC time; a new value is a new request.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/rollback"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
