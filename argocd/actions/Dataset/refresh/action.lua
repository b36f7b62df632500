-- Read this Dataset's source again now (e.g. after the file was replaced): new content becomes a new revision
-- once it passes validation. Sets metadata.annotations["herder.dev/refresh"] to the current UTC time.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["herder.dev/refresh"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
