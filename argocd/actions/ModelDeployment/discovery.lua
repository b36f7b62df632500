-- Argo CD action discovery for herder.dev/ModelDeployment. Actions only set annotations (never spec).
local function condition(o, ctype)
  if o.status == nil or o.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(o.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local st = obj.status or {}
local progressing = condition(obj, "Progressing")
local degraded = condition(obj, "Degraded")
local rolling = st.paused == true or st.canaryVersion ~= nil or (progressing ~= nil and progressing.status == "True")
local aborted = (degraded ~= nil and degraded.status == "True") or st.abortedVersion ~= nil
local known_good = st.lastKnownGoodVersion ~= nil or st.stableVersion ~= nil

local actions = {}
actions["promote"] = { ["disabled"] = not rolling, ["iconClass"] = "fa fa-fw fa-forward",
                       ["displayName"] = "Promote canary now" }
actions["rollback"] = { ["disabled"] = not known_good, ["iconClass"] = "fa fa-fw fa-undo",
                        ["displayName"] = "Roll back to last known-good" }
actions["retry"] = { ["disabled"] = not aborted, ["iconClass"] = "fa fa-fw fa-redo",
                     ["displayName"] = "Retry aborted rollout" }
return actions
