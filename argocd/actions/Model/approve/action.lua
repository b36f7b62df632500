-- Approve the retrain waiting for approval (spec.retraining.requireApproval; status.retraining.pendingApproval
-- names its trigger). Sets metadata.annotations["herder.dev/approve-retrain"] to the current UTC time.
if obj.status == nil or obj.status.retraining == nil or obj.status.retraining.pendingApproval == nil then
  error("nothing to approve: status.retraining.pendingApproval is not set", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/approve-retrain"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
