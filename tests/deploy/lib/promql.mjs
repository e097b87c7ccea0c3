// PromQL as the monitoring checks read it: the selectors and label lists of an expression
// (not a full parser: promtool does the syntax), Grafana's variables filled in, and every
// expression of a dashboard. Used by monitoring-promql.mjs and monitoring-semantics.mjs.

const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end"]);
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

// Splits an expression into the selectors, label lists and metric names it uses. Not a full
// parser (promtool does the syntax); it skips strings, range brackets, numbers and functions.
export function scan(expr) {
  const names = []; // { name, matchers: [{label, op, value}] }
  const labelLists = [];
  let i = 0;
  const n = expr.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(expr[i])) i++;
  };
  const readString = () => {
    const quote = expr[i++];
    let s = "";
    while (i < n && expr[i] !== quote) {
      if (expr[i] === "\\" && quote !== "`") s += expr[i++];
      s += expr[i++];
    }
    i++;
    return s;
  };
  const readMatchers = () => {
    const out = [];
    i++; // {
    for (;;) {
      skipSpace();
      if (i >= n) throw new Error("unterminated {");
      if (expr[i] === "}") {
        i++;
        return out;
      }
      if (expr[i] === ",") {
        i++;
        continue;
      }
      const lm = expr.slice(i).match(/^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*/);
      if (!lm) throw new Error(`bad label matcher at "${expr.slice(i, i + 20)}"`);
      i += lm[0].length;
      if (!`"'\``.includes(expr[i])) throw new Error(`label ${lm[1]}: value is not a string`);
      out.push({ label: lm[1], op: lm[2], value: readString() });
    }
  };
  while (i < n) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      readString();
    } else if (c === "[") {
      const j = expr.indexOf("]", i);
      i = j < 0 ? n : j + 1;
    } else if (c === "{") {
      names.push({ name: null, matchers: readMatchers() });
    } else if (/[0-9.]/.test(c)) {
      i += expr.slice(i).match(/^[0-9.][0-9a-zA-Z_.]*(?:[eE][+-]?[0-9]+)?/)[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const id = expr.slice(i).match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)[0];
      i += id.length;
      skipSpace();
      if (LABEL_LIST_KEYWORDS.has(id)) {
        if (expr[i] === "(") {
          const j = expr.indexOf(")", i);
          labelLists.push(...expr.slice(i + 1, j).split(",").map((s) => s.trim()).filter(Boolean));
          i = j + 1;
        }
      } else if (expr[i] === "(" || KEYWORDS.has(id.toLowerCase()) || /^(by|without)\b/.test(expr.slice(i))) {
        // a function, an aggregation (also `sum by (...) (...)`) or an operator keyword
      } else {
        const sel = { name: id, matchers: [] };
        if (expr[i] === "{") sel.matchers = readMatchers();
        names.push(sel);
      }
    } else {
      i++;
    }
  }
  return { names, labelLists };
}

// Fills in Grafana's variables so the expression is plain PromQL.
export function fillGrafanaVars(expr) {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, "5m")
    .replace(/\$__range_s\b/g, "300")
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, "GRAFANA_VAR");
}

// Every (where, expr) of a dashboard: panel targets and label_values()/query_result() variables.
export function dashboardExprs(file, d, errors) {
  const out = [];
  const panels = [];
  for (const p of d.panels || []) panels.push(p, ...(p.panels || []));
  for (const p of panels) {
    for (const t of p.targets || []) {
      if (typeof t.expr === "string") out.push([`${file}: panel "${p.title}" ${t.refId}`, t.expr]);
    }
  }
  for (const v of d.templating?.list || []) {
    if (v.type !== "query") continue;
    const text = typeof v.query === "string" ? v.query : v.query?.query || "";
    let m = text.match(/^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/);
    if (m) {
      out.push([`${file}: variable ${v.name}`, m[1]]);
      continue;
    }
    m = text.match(/^\s*query_result\((.+)\)\s*$/);
    if (m) out.push([`${file}: variable ${v.name}`, m[1]]);
    else if (!/^\s*label_values\(\s*[a-zA-Z_]\w*\s*\)\s*$/.test(text)) errors.push(`${file}: variable ${v.name}: unsupported query ${text}`);
  }
  return out;
}

// Every panel of a dashboard, the panels inside rows included.
export function dashboardPanels(d) {
  const panels = [];
  for (const p of d.panels || []) panels.push(p, ...(p.panels || []));
  return panels;
}
