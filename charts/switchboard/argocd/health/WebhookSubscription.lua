-- Argo CD health check for switchboard.dev/WebhookSubscription (docs/argocd.md).
-- Suspended: spec.suspend. Progressing: no status yet, or status.observedGeneration behind
-- metadata.generation. Healthy: Ready=True. Degraded: Ready=False.
local hs = { status = "Progressing", message = "Waiting for the Switchboard controller to report status" }
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended (spec.suspend is true)"
  return hs
end
local status = obj.status
if status == nil then
  return hs
end
local ready = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end
local observed = status.observedGeneration
if observed == nil and ready ~= nil then
  observed = ready.observedGeneration
end
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = string.format("Waiting for the controller to observe generation %d", generation)
  return hs
end
if ready == nil then
  hs.message = "Waiting for the Ready condition"
  return hs
end
local reason = ready.reason or ""
local message = ready.message or ""
if message ~= "" then
  message = reason .. ": " .. message
else
  message = reason
end
if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = "Degraded"
end
hs.message = message
return hs
