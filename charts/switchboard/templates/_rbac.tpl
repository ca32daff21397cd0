{{/*
The controller's API usage, verb by verb (src/controller/*.rs); nothing wider.
"switchboard.rules.namespaced" are the rules on namespaced resources: they become a ClusterRole
(every namespace) or a Role in .Values.watchNamespace. "switchboard.rules.cluster" are the rules
on cluster-scoped resources and always form a ClusterRole.
*/}}
{{- define "switchboard.rules.namespaced" -}}
# Watches (reflectors) of the seven namespaced kinds.
- apiGroups: [switchboard.dev]
  resources: [integrations, webhookendpoints, webhooksubscriptions, transformations, syncschedules, syncjobs, eventtypes]
  verbs: [get, list, watch]
# The subscription finalizer (switchboard.dev/drop-pending) is added and removed by JSON patch.
- apiGroups: [switchboard.dev]
  resources: [webhooksubscriptions]
  verbs: [patch]
# Status written by server-side apply (PATCH of the status subresource).
- apiGroups: [switchboard.dev]
  resources: [integrations/status, webhookendpoints/status, webhooksubscriptions/status, transformations/status, syncschedules/status, syncjobs/status, eventtypes/status]
  verbs: [patch]
# Owner references with blockOwnerDeletion (generated signing Secrets -> WebhookSubscription,
# SyncJobs -> SyncSchedule, OAuth token Secrets -> Integration) need update on the owner's
# finalizers subresource where the OwnerReferencesPermissionEnforcement admission plugin is
# enabled.
- apiGroups: [switchboard.dev]
  resources: [webhooksubscriptions/finalizers, syncschedules/finalizers, integrations/finalizers]
  verbs: [update]
# SyncSchedules create their runs and prune the history.
- apiGroups: [switchboard.dev]
  resources: [syncjobs]
  verbs: [create, delete]
# Credentials are read from the resource's namespace. list/watch: the values only of Secrets
# labelled switchboard.dev/usable=true or switchboard.dev/publisher-token=true (label selectors
# in the controller; RBAC cannot narrow list/watch by label), and the metadata only of every
# other Secret, to tell "not opted in" (Ready=False SecretNotUsable) from "missing". get: the
# metadata of an existing `<subscription>-signing`, to add the opt-in label to one generated
# before it existed. create: `<subscription>-signing` (generated, labelled usable). patch:
# that label, and rotation bookkeeping (merge patch).
# OAuth2 authorization-code tokens: `<integration>-oauth-tokens` (labelled
# switchboard.dev/oauth-tokens-for, owned by the Integration) is read with get, written by
# server-side apply (patch), claimed for a refresh by a merge patch carrying its resourceVersion
# (compare-and-set: one replica refreshes at a time) and deleted once the connection is revoked
# (delete: no garbage collector needs to run).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
# Events on Ready transitions (kube-runtime's Recorder: events.k8s.io/v1, create then patch for a series).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{- define "switchboard.rules.cluster" -}}
# The provider catalog is cluster-scoped.
- apiGroups: [switchboard.dev]
  resources: [clusterintegrationproviders]
  verbs: [get, list, watch]
- apiGroups: [switchboard.dev]
  resources: [clusterintegrationproviders/status]
  verbs: [patch]
# Publish API: ServiceAccount tokens are checked with TokenReview, and SubjectAccessReview.
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end }}

{{- define "switchboard.subject" -}}
- kind: ServiceAccount
  name: {{ include "switchboard.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}
