// k8s/base/<name>.yaml from services/<name>/service.json: ServiceAccount, Deployment, Service(s),
// PodDisruptionBudget and, for "kubernetes.hpa", a HorizontalPodAutoscaler; the canary of a
// service gets its own file, <name>-<version>.yaml. What every service shares (probes, security,
// rollout, the default sizing: suite.json "kubernetes") is written here once.

// A comment wrapped to 100 columns, each line starting with indent + "# ".
export function comment(text, indent = "") {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && indent.length + 2 + line.length + 1 + word.length > 100) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => `${indent}# ${l}`).join("\n");
}

// A YAML scalar as the base writes it: numbers, booleans and the empty string quoted.
function scalar(v) {
  const s = String(v);
  return /^([0-9.]+|true|false|yes|no|on|off|)$/i.test(s) ? `"${s}"` : s;
}

function envEntry(e) {
  const head = e.comment ? `${comment(e.comment, "            ")}\n` : "";
  if (e.fieldRef)
    return `${head}            - name: ${e.name}
              valueFrom:
                fieldRef:
                  fieldPath: ${e.fieldRef}`;
  return `${head}            - name: ${e.name}
              value: ${scalar(e.value)}`;
}

// The env of one version: PORT, SERVICE_VERSION, the URL of each service it calls, then its own.
function envList(s, version, byName) {
  const env = [
    { name: "PORT", value: s.port },
    { name: "SERVICE_VERSION", value: version },
    ...s.calls.map((c) => ({ name: `${c.toUpperCase()}_URL`, value: `http://${c}:${byName.get(c).port}` })),
    ...(s.kubernetes?.env ?? []),
  ];
  return env.map(envEntry).join("\n");
}

function resources(s, suite) {
  const r = { ...suite.kubernetes.resources, ...(s.kubernetes?.resources ?? {}) };
  return `          resources:
            requests:
              cpu: ${r.requestsCpu}
              memory: ${r.requestsMemory}
            limits:
              cpu: ${scalar(r.limitsCpu)}
              memory: ${r.limitsMemory}`;
}

function serviceAccount(name, app) {
  return `apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${name}
  labels:
    app: ${app}
automountServiceAccountToken: false`;
}

function deployment(s, name, version, facts) {
  const secrets = s.stores.length
    ? `
            - secretRef:
                name: ${s.name}-secrets`
    : "";
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${s.name}
    version: ${version}
spec:
  replicas: 2
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app: ${s.name}
      version: ${version}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: ${s.name}
        version: ${version}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "${s.port}"
        prometheus.io/path: /metrics
    spec:
      serviceAccountName: ${name}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 30
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              app: ${s.name}
              version: ${version}
      containers:
        - name: ${s.name}
          image: localhost/microshop/${s.name}:latest
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: ${s.port}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: microshop-config${secrets}
          env:
${envList(s, version, facts.byName)}
          startupProbe:
            httpGet:
              path: /health
              port: http
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet:
              path: /health
              port: http
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /ready
              port: http
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
${resources(s, facts.suite)}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            runAsUser: 10001
            capabilities:
              drop:
                - ALL
            seccompProfile:
              type: RuntimeDefault
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi`;
}

function service(s, name, version) {
  const pick = version ? `\n    version: ${version}` : "";
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  labels:
    app: ${s.name}
spec:
  type: ClusterIP
  selector:
    app: ${s.name}${pick}
  ports:
    - name: http
      port: ${s.port}
      targetPort: http
      protocol: TCP
      appProtocol: http`;
}

function pdb(s, name, version) {
  return `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: ${name}
  labels:
    app: ${s.name}
spec:
  minAvailable: 1
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      app: ${s.name}
      version: ${version}`;
}

function hpa(s) {
  return `# Scales on CPU against the 50m request (about 350 requests/s per pod, see kustomization.yaml);
# needs metrics-server (kind-up.sh installs it; minikube: \`minikube addons enable metrics-server\`).
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ${s.name}
  labels:
    app: ${s.name}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: ${s.name}
  minReplicas: 2
  maxReplicas: 6
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60`;
}

// path → text of the base files of service s (and of its canary).
export function k8sBase(s, facts, mark) {
  const objects = ["ServiceAccount", "Deployment", s.canary ? "Services" : "Service", "PodDisruptionBudget"];
  if (s.kubernetes?.hpa) objects.push("HorizontalPodAutoscaler");
  const kinds = `${objects.slice(0, -1).join(", ")} and ${objects.at(-1)}; sizing and shutdown timing are explained in kustomization.yaml.`;
  const docs = [serviceAccount(s.name, s.name), deployment(s, s.name, "v1", facts), service(s, s.name, null)];
  if (s.canary) docs.push(service(s, `${s.name}-v1`, "v1"));
  docs.push(pdb(s, s.name, "v1"));
  if (s.kubernetes?.hpa) docs.push(hpa(s));
  const files = { [`k8s/base/${s.name}.yaml`]: `# ${mark}.\n${comment(`${s.name}: ${s.summary}`)}\n${comment(kinds)}\n${docs.join("\n---\n")}\n` };
  if (s.canary) {
    const v = s.canary.version;
    const name = `${s.name}-${v}`;
    const head = `${name}: the ${s.name} canary: the same binary with SERVICE_VERSION=${v}${s.canary.note ? ` (${s.canary.note})` : ""}. Its ServiceAccount, Service (${name}) and PodDisruptionBudget are its own; the Service "${s.name}" selects both versions, "${s.name}-v1"/"${name}" one each for weighted routes.`;
    const canaryDocs = [serviceAccount(name, s.name), deployment(s, name, v, facts), service(s, name, v), pdb(s, name, v)];
    files[`k8s/base/${name}.yaml`] = `# ${mark}.\n${comment(head)}\n${canaryDocs.join("\n---\n")}\n`;
  }
  return files;
}

// k8s/base/kustomization.yaml's generated parts: every service's file under resources, and the
// secrets of those with stores (the PostgreSQL password as postgres-credentials has it).
export function kustomizeResources({ services }) {
  return services
    .flatMap((s) => (s.canary ? [s.name, `${s.name}-${s.canary.version}`] : [s.name]))
    .map((n) => `  - ${n}.yaml\n`)
    .join("");
}

export function kustomizeSecrets({ services, suite }) {
  const k = suite.kubernetes;
  return services
    .filter((s) => s.stores.length)
    .map((s) => {
      const lines = [`  - name: ${s.name}-secrets`, "    literals:"];
      if (s.database) lines.push(`      - DATABASE_URL=${k.databaseUrl}${s.database}`);
      if (s.stores.includes("redis")) lines.push(`      - REDIS_URL=${k.redisUrl}`);
      return `${lines.join("\n")}\n`;
    })
    .join("");
}

// network-policies.yaml's generated parts: the services that may reach PostgreSQL, then Redis.
export function storeClients({ services }, store) {
  return `                values: [${services.filter((s) => s.stores.includes(store)).map((s) => s.name).join(", ")}]\n`;
}
