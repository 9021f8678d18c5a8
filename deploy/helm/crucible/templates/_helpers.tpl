{{/* Names and labels shared by every template. */}}

{{- define "crucible.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one component: crucible.component (dict "root" $ "name" "scrubber") */}}
{{- define "crucible.component" -}}
{{- printf "%s-%s" (include "crucible.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crucible.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: crucible
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "crucible.selectorLabels" . }}
{{- end -}}

{{- define "crucible.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* A service's values: serviceDefaults merged under the service's own keys. */}}
{{- define "crucible.serviceValues" -}}
{{- $svc := deepCopy (index .root.Values.services .name) -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.serviceDefaults) $svc) -}}
{{- end -}}

{{- define "crucible.image" -}}
{{- printf "%s/crucible-%s:%s" .root.Values.global.imageRegistry .name (default .root.Chart.AppVersion .root.Values.global.imageTag) -}}
{{- end -}}

{{/* NATS URL with the service's user; $(NATS_PASSWORD) is expanded by the kubelet from the env entry before it. */}}
{{- define "crucible.natsUrl" -}}
{{- $url := .root.Values.nats.url -}}
{{- if .root.Values.nats.auth.enabled -}}
{{- $parts := splitList "://" $url -}}
{{- printf "%s://%s%s:$(NATS_PASSWORD)@%s" (first $parts) .root.Values.nats.auth.userPrefix .name (last $parts) -}}
{{- else -}}
{{- $url -}}
{{- end -}}
{{- end -}}

{{/* GPU scheduling for a pod: affinity on the product label, toleration for the taint. */}}
{{- define "crucible.gpuScheduling" -}}
{{- if gt (int .gpu.count) 0 }}
{{- if .gpu.products }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - key: {{ .gpu.productLabel }}
              operator: In
              values:
                {{- toYaml .gpu.products | nindent 16 }}
{{- end }}
tolerations:
  - key: {{ .gpu.taintKey }}
    operator: Exists
    effect: NoSchedule
{{- end }}
{{- end -}}

{{- define "crucible.runbook" -}}
{{- printf "%s#%s" .root.Values.monitoring.prometheusRule.runbookBaseUrl .anchor -}}
{{- end -}}

{{/* The serving fleet's Deployments, comma-separated (the gateway restarts these on the TGI path). */}}
{{- define "crucible.servingDeployments" -}}
{{- $names := list (include "crucible.component" (dict "root" . "name" .Values.serving.backend)) -}}
{{- if .Values.serving.candidate.enabled -}}
{{- $names = append $names (include "crucible.component" (dict "root" . "name" (printf "%s-candidate" .Values.serving.backend))) -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}
