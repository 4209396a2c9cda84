{{- define "zentoo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zentoo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "zentoo.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zentoo.serviceAccountName" -}}
{{- default (include "zentoo.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "zentoo.buildNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace -}}
{{- end -}}

{{/* Rules on the watched namespace(s): exactly what crates/zentoo-controller/src uses. */}}
{{- define "zentoo.watchRules" -}}
{{- /* Exactly the rights the controller uses (tests/it/controller_rbac.rs compares the two).
  It reads through watch caches, so no get where it never reads one object; a server-side
  apply that creates an object needs create as well as patch. */}}
- apiGroups: ["zentoo.dev"]
  resources: ["gentoosites"]
  verbs: ["list", "watch"]
- apiGroups: ["zentoo.dev"]
  resources: ["gentooimages"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["zentoo.dev"]
  resources: ["gentoosites/status", "gentooimages/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["create", "patch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch", "list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end -}}
