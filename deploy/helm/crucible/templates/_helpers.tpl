{{/* Names and labels shared by every template. */}}

{{- define "crucible.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object's name: fullnameOverride, else the release name (when it already says the chart's
name), else `<release>-<name>`. 40 characters leave room for the longest component suffix within 63. */}}
{{- define "crucible.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "crucible.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
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
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/* A Crucible image: the service's own `image` (repository, tag, digest) over the global default
`<global.imageRegistry>/crucible-<service>:<global.imageTag or appVersion>`; a digest pins it (`repo@sha256:...`).
crucible.image (dict "root" $ "name" "gateway") */}}
{{- define "crucible.image" -}}
{{- $img := dict -}}
{{- if hasKey .root.Values.services .name -}}
{{- $img = (include "crucible.serviceValues" . | fromYaml).image | default dict -}}
{{- end -}}
{{- $repo := $img.repository | default (printf "%s/crucible-%s" .root.Values.global.imageRegistry .name) -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo ($img.tag | default .root.Values.global.imageTag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* A third-party image ({repository, tag, digest}): the digest wins when set. */}}
{{- define "crucible.externalImage" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* "true" when an optional object should render: its toggle is on and the cluster serves its API
(`.Capabilities.APIVersions`; `helm template` needs `--api-versions group/version/Kind`).
crucible.apiEnabled (dict "root" $ "on" .Values.keda.enabled "api" "keda.sh/v1alpha1/ScaledObject") */}}
{{- define "crucible.apiEnabled" -}}
{{- if and .on (.root.Capabilities.APIVersions.Has .api) -}}true{{- end -}}
{{- end -}}

{{- define "crucible.serviceMonitorOn" -}}
{{- include "crucible.apiEnabled" (dict "root" . "on" .Values.monitoring.serviceMonitor.enabled "api" "monitoring.coreos.com/v1/ServiceMonitor") -}}
{{- end -}}

{{- define "crucible.prometheusRuleOn" -}}
{{- include "crucible.apiEnabled" (dict "root" . "on" .Values.monitoring.prometheusRule.enabled "api" "monitoring.coreos.com/v1/PrometheusRule") -}}
{{- end -}}

{{- define "crucible.kedaOn" -}}
{{- include "crucible.apiEnabled" (dict "root" . "on" .Values.keda.enabled "api" "keda.sh/v1alpha1/ScaledObject") -}}
{{- end -}}

{{- define "crucible.httpRouteOn" -}}
{{- include "crucible.apiEnabled" (dict "root" . "on" .Values.gatewayApi.enabled "api" "gateway.networking.k8s.io/v1/HTTPRoute") -}}
{{- end -}}

{{- define "crucible.grpcRouteOn" -}}
{{- include "crucible.apiEnabled" (dict "root" . "on" (and .Values.gatewayApi.enabled .Values.gatewayApi.grpcHostnames) "api" "gateway.networking.k8s.io/v1/GRPCRoute") -}}
{{- end -}}

{{- define "crucible.istioOn" -}}
{{- include "crucible.apiEnabled" (dict "root" . "on" .Values.istio.enabled "api" "networking.istio.io/v1/VirtualService") -}}
{{- end -}}

{{/* The consumers KEDA scales a service on (its durables on RAW and RECORDS, where lag is work waiting), as a
YAML list; empty for services KEDA leaves alone. crucible.lagConsumers (dict "root" $ "name" "scorer") */}}
{{- define "crucible.lagConsumers" -}}
{{- $out := list -}}
{{- range $c := (index .root.Values.natsPermissions .name | default dict).consume | default list -}}
{{- if or (eq $c.stream "RAW") (eq $c.stream "RECORDS") -}}{{- $out = append $out $c -}}{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Prometheus label matchers for this release's own series. The ServiceMonitors take `job` from the Services'
app.kubernetes.io/instance label, so `namespace` + `job` name one release: two releases never merge. */}}
{{- define "crucible.promSelector" -}}
{{- printf "namespace=%q, job=%q" .Release.Namespace .Release.Name -}}
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
