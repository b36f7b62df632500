{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "herder.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name (release-based unless overridden). */}}
{{- define "herder.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "herder.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object the chart creates. */}}
{{- define "herder.labels" -}}
helm.sh/chart: {{ include "herder.chart" . }}
{{ include "herder.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: herder
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "herder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herder.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "herder.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "herder.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: pinned by digest when one is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "herder.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The artifact store URI handed to the operator: s3://... when configured, else pvc://<claim>. */}}
{{- define "herder.storageURI" -}}
{{- if .Values.storage.s3.uri }}
{{- .Values.storage.s3.uri }}
{{- else }}
{{- printf "pvc://%s" .Values.storage.pvc.claimName }}
{{- end }}
{{- end }}

{{/*
RBAC rules for namespaced resources: what the operator reads, creates and patches in a watched namespace.
No wildcards (a unit test renders the chart and fails on any "*"); no Secrets (pods mount the storage Secret
by name); no pods/exec; no leases (kopf runs standalone, one replica, Recreate).
*/}}
{{- define "herder.namespacedRules" -}}
# The six Herder kinds: kopf watches them and patches its annotations/finalizers; the operator creates
# TrainingJobs (retraining) and ModelVersions (training success), and deletes them for retention.
- apiGroups: ["herder.dev"]
  resources: ["datasets", "featuresets", "models", "modeldeployments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["herder.dev"]
  resources: ["trainingjobs", "modelversions"]
  verbs: ["get", "list", "watch", "patch", "create", "delete"]
- apiGroups: ["herder.dev"]
  resources: ["datasets/status", "featuresets/status", "trainingjobs/status", "models/status",
              "modelversions/status", "modeldeployments/status"]
  verbs: ["get", "patch"]
# Events: kopf posts core/v1 Events; the operator may use events.k8s.io/v1.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# Children: validation and training Jobs; serving Deployments, Services, HPAs, PDBs; ConfigMaps.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- if .Values.rbac.gatewayAPI }}
# Gateway API routing (trafficRouting.type GatewayAPI): one HTTPRoute per ModelDeployment, read by name, created,
# patched (server-side apply) and deleted; never listed or watched.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "create", "patch", "delete"]
{{- end }}
# Read-only: the storage claim (checked to exist), pods of Jobs and Deployments (state, termination messages,
# metrics scrape targets) and their logs (failure reasons).
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
{{- end }}

{{/* Cluster-scoped, read-only: kopf scans CustomResourceDefinitions to find the Herder kinds. */}}
{{- define "herder.clusterRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/*
Namespaced mode only, read-only: kopf observes Namespaces whenever it is not cluster-wide (even for exact names).
Without this it retries the list 9 times (about a minute) before serving the watched namespaces, logging a 403
each time, and never notices a watched namespace that is deleted and re-created. Cluster-wide mode needs none.
*/}}
{{- define "herder.namespaceReadRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- end }}
