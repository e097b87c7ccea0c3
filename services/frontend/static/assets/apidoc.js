/* The API reference page: fetches the OpenAPI documents the page links to (/api/NAME.yaml, the
 * list made at build time from docs/api), reads them with msYaml (yaml.js), and renders the one
 * named in the location's hash (#product.yaml): every path with its operations, parameters,
 * request body and responses, schemas as indented text with their $refs followed. Everything
 * is written with textContent, never as HTML. */
"use strict";

(() => {
  const docs = new Map();
  const main = document.getElementById("main");
  const status = document.getElementById("status");
  const METHODS = ["get", "put", "post", "delete", "patch", "options", "head", "trace"];

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  /* An element holding prose, its `code` spans as <code> (built as nodes, never as HTML). */
  function prose(tag, text, cls) {
    const e = el(tag, undefined, cls);
    text.split("`").forEach((part, i) => {
      if (part) e.appendChild(i % 2 ? el("code", part) : document.createTextNode(part));
    });
    return e;
  }

  /* The node a $ref names, read from document base: [node, base]. */
  function resolve(base, ref) {
    const [file, pointer = ""] = ref.split("#");
    const target = file || base;
    let node = docs.get(target);
    for (const part of pointer.split("/").slice(1)) {
      if (node === undefined || node === null) break;
      node = node[decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    if (node === undefined) throw new Error(`${base}: ${ref} names nothing`);
    return [node, target];
  }

  function deref(base, node) {
    let cur = [node, base];
    for (let i = 0; i < 10 && cur[0] && typeof cur[0].$ref === "string"; i++) cur = resolve(cur[1], cur[0].$ref);
    return cur;
  }

  function scalarText(s) {
    const parts = [];
    if (s.const !== undefined) parts.push(JSON.stringify(s.const));
    if (s.enum) parts.push(s.enum.map((x) => JSON.stringify(x)).join(" | "));
    if (s.type) parts.push([].concat(s.type).join(" | "));
    if (s.minimum !== undefined || s.maximum !== undefined)
      parts.push(`${s.minimum ?? ""}..${s.maximum ?? ""}`);
    if (s.minLength !== undefined || s.maxLength !== undefined)
      parts.push(`length ${s.minLength ?? 0}..${s.maxLength ?? ""}`);
    if (s.pattern) parts.push(`/${s.pattern}/`);
    if (s.default !== undefined) parts.push(`default ${JSON.stringify(s.default)}`);
    return parts.join(", ") || "any";
  }

  /* A schema as indented lines: objects field by field (* required), arrays by their items. */
  function schemaLines(base, schema, indent, depth, out) {
    const [s, b] = deref(base, schema);
    const pad = "  ".repeat(indent);
    const name = schema.$ref ? ` (${schema.$ref.split("/").pop()})` : "";
    if (depth > 6) {
      out.push(`${pad}…${name}`);
    } else if (s.properties || s.additionalProperties) {
      out.push(`${pad}object${name}${s.additionalProperties === false ? ", no other fields" : ""}`);
      const required = new Set(s.required || []);
      for (const [k, v] of Object.entries(s.properties || {})) {
        const [vs] = deref(b, v);
        const nested = vs.properties || vs.items || vs.additionalProperties;
        out.push(`${pad}  ${k}${required.has(k) ? "*" : ""}: ${nested ? "" : scalarText(vs)}` +
          (vs.description ? `  — ${vs.description.trim()}` : ""));
        if (nested) schemaLines(b, v, indent + 2, depth + 1, out);
      }
      if (s.additionalProperties && typeof s.additionalProperties === "object") {
        out.push(`${pad}  (any name):`);
        schemaLines(b, s.additionalProperties, indent + 2, depth + 1, out);
      }
    } else if (s.items) {
      const range = s.minItems !== undefined || s.maxItems !== undefined
        ? ` of ${s.minItems ?? 0}..${s.maxItems ?? ""}` : "";
      out.push(`${pad}array${range}${name} of`);
      schemaLines(b, s.items, indent + 1, depth + 1, out);
    } else {
      out.push(`${pad}${scalarText(s)}${name}`);
    }
    return out;
  }

  function schemaBlock(base, schema) {
    return el("pre", schemaLines(base, schema, 0, 0, []).join("\n"));
  }

  function parametersTable(params) {
    const table = el("table");
    const head = table.insertRow();
    for (const h of ["Parameter", "In", "Schema", "Description"]) head.appendChild(el("th", h));
    for (const [p] of params) {
      const row = table.insertRow();
      row.insertCell().textContent = p.name + (p.required ? " (required)" : "");
      row.insertCell().textContent = p.in;
      row.insertCell().textContent = scalarText(p.schema || {});
      row.insertCell().appendChild(prose("span", p.description || ""));
    }
    return table;
  }

  function renderResponse(base, code, response, into) {
    const [r, b] = deref(base, response);
    into.appendChild(prose("h5", `${code}: ${(r.description || "").trim()}`));
    const headers = Object.entries(r.headers || {}).map(([name, h]) => {
      const [hs] = deref(b, h);
      return `${name}${hs.required ? "*" : ""}: ${scalarText(deref(b, hs.schema || {})[0])}`;
    });
    if (headers.length) into.appendChild(el("p", `Headers: ${headers.join("; ")}`, "muted"));
    for (const [type, media] of Object.entries(r.content || {})) {
      into.appendChild(el("p", type, "muted"));
      into.appendChild(schemaBlock(b, media.schema));
    }
  }

  function renderOperation(base, path, method, op, shared) {
    const box = el("section", undefined, "op");
    const h = el("h3");
    h.appendChild(el("span", method.toUpperCase(), "method"));
    h.appendChild(document.createTextNode(path));
    box.appendChild(h);
    if (op.summary) box.appendChild(prose("p", op.summary));
    if (op.description) box.appendChild(prose("p", op.description.trim(), "desc"));
    const params = [...shared, ...(op.parameters || [])].map((p) => deref(base, p));
    if (params.length) box.appendChild(parametersTable(params));
    if (op.requestBody) {
      box.appendChild(el("h4", "Request body"));
      for (const [type, media] of Object.entries(op.requestBody.content || {})) {
        box.appendChild(el("p", type, "muted"));
        box.appendChild(schemaBlock(base, media.schema));
      }
    }
    box.appendChild(el("h4", "Responses"));
    for (const [code, r] of Object.entries(op.responses || {})) renderResponse(base, code, r, box);
    return box;
  }

  function render(name) {
    const doc = docs.get(name);
    main.replaceChildren();
    main.appendChild(el("h1", doc.info.title));
    if (doc.info.description) main.appendChild(prose("p", doc.info.description.trim(), "desc"));
    const link = el("a", `${name} (YAML)`);
    link.href = `/api/${name}`;
    main.appendChild(el("p")).appendChild(link);
    for (const [path, raw] of Object.entries(doc.paths || {})) {
      const [item, base] = deref(name, raw);
      main.appendChild(el("h2", path));
      if (item.description) main.appendChild(prose("p", item.description.trim(), "desc"));
      for (const m of METHODS)
        if (item[m]) main.appendChild(renderOperation(base, path, m, item[m], item.parameters || []));
    }
    for (const a of document.querySelectorAll("#api-documents a")) {
      if (a.dataset.name === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    document.title = `${doc.info.title}: microshop API reference`;
  }

  function show() {
    const wanted = decodeURIComponent(location.hash.slice(1));
    const first = [...docs.keys()].find((n) => n !== "common.yaml") || [...docs.keys()][0];
    try {
      render(docs.has(wanted) ? wanted : first);
      status.textContent = "";
    } catch (e) {
      status.textContent = `This document cannot be shown: ${e.message}`;
    }
  }

  async function load() {
    const links = [...document.querySelectorAll("#api-documents a")];
    for (const a of links) {
      const name = a.getAttribute("href").split("/").pop();
      a.dataset.name = name;
      a.href = `#${name}`;
      const answer = await fetch(`/api/${name}`);
      if (!answer.ok) throw new Error(`/api/${name}: ${answer.status}`);
      docs.set(name, msYaml.parse(await answer.text()));
    }
    window.addEventListener("hashchange", show);
    show();
  }

  load().catch((e) => {
    status.textContent = `The API documents could not be loaded: ${e.message}`;
  });
})();
