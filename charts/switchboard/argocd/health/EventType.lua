-- Argo CD health check for switchboard.dev/EventType (docs/argocd.md).
-- Suspended: spec.suspend. Progressing: no status yet, status.observedGeneration behind
-- metadata.generation, no Ready condition yet, Ready=Unknown or Healthy=Unknown. Degraded:
-- Ready=False, Healthy=False (deliveries failing, circuit open, health check failing, filter
-- errors, ...) or phase Error. Healthy: Ready=True and Healthy (if any) not False.
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
local healthy = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "Healthy" then
      healthy = condition
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
local function describe(condition)
  local reason = condition.reason or ""
  local message = condition.message or ""
  if message ~= "" then
    return reason .. ": " .. message
  end
  return reason
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
if ready.status ~= "True" then
  hs.message = describe(ready)
  return hs
end
if healthy ~= nil and healthy.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(healthy)
  return hs
end
if status.phase == "Error" then
  hs.status = "Degraded"
  hs.message = "Error: " .. describe(ready)
  return hs
end
if healthy ~= nil and healthy.status ~= "True" then
  hs.message = describe(healthy)
  return hs
end
hs.status = "Healthy"
hs.message = describe(ready)
return hs
