-- Argo CD health check for switchboard.dev/SyncJob (docs/argocd.md).
-- Healthy: Completed. Degraded: Failed. Suspended: Cancelled. Progressing: Pending, Running, no
-- status yet, or status.observedGeneration behind metadata.generation.
local hs = { status = "Progressing", message = "Waiting for the Switchboard controller to start the job" }
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
local detail = ""
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  detail = ": " .. ready.message
end
local phase = status.phase
if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = string.format("Completed: %d records processed, %d failed", status.processedRecords or 0, status.failedRecords or 0)
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Failed" .. detail
elseif phase == "Cancelled" then
  hs.status = "Suspended"
  hs.message = "Cancelled" .. detail
elseif phase == "Running" then
  hs.message = string.format("Running: %d records processed", status.processedRecords or 0)
elseif phase == "Pending" then
  hs.message = "Pending"
end
return hs
