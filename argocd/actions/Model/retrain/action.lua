-- Start a retraining of this Model now (the operator's cooldown and maxPerDay guardrails still apply).
-- Sets metadata.annotations["herder.dev/retrain"] to the current UTC time; a new value is a new request.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/retrain"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
