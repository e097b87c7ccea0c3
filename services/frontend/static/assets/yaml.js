/* A reader for the YAML the API documents (docs/api) are written in, so the API page needs no
 * third-party library: block mappings and sequences, one-line flow collections ({a: b}, [a, b]),
 * plain, single- and double-quoted scalars, literal (|) and folded (>) block scalars, comments.
 * Anchors, tags, multi-line plain or flow scalars and multiple documents are not read: a
 * document that uses them fails here, and tests/deploy/openapi.mjs, which checks that this
 * reader and the yaml package read every document alike, fails with it. Defines msYaml.parse. */
"use strict";

var msYaml = (() => {
  function fail(lineNo, what) {
    throw new Error(`line ${lineNo + 1}: ${what}`);
  }

  function indentOf(line) {
    return line.length - line.trimStart().length;
  }

  function blank(line) {
    const t = line.trim();
    return t === "" || t.startsWith("#");
  }

  /* A plain scalar's value by the YAML 1.2 core schema. */
  function plain(text) {
    if (/^(~|null|Null|NULL)?$/.test(text)) return null;
    if (/^(true|True|TRUE)$/.test(text)) return true;
    if (/^(false|False|FALSE)$/.test(text)) return false;
    if (/^[-+]?[0-9]+$/.test(text)) return parseInt(text, 10);
    if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(text)) return parseFloat(text);
    return text;
  }

  const ESCAPES = { n: "\n", t: "\t", r: "\r", "0": "\0", '"': '"', "\\": "\\", "/": "/", " ": " " };

  /* Flow and quoted scalars, on one line: a small recursive reader over s from position i. */
  function flowReader(s, lineNo) {
    let i = 0;
    const skip = () => {
      while (s[i] === " ") i++;
    };
    const quoted = () => {
      const q = s[i++];
      let out = "";
      for (;;) {
        if (i >= s.length) fail(lineNo, "unterminated quoted string");
        const c = s[i++];
        if (q === "'" && c === "'") {
          if (s[i] !== "'") return out;
          out += "'";
          i++;
        } else if (q === '"' && c === '"') {
          return out;
        } else if (q === '"' && c === "\\") {
          const e = s[i++];
          if (e === "u") {
            out += String.fromCharCode(parseInt(s.slice(i, i + 4), 16));
            i += 4;
          } else if (e in ESCAPES) {
            out += ESCAPES[e];
          } else {
            fail(lineNo, `unknown escape \\${e}`);
          }
        } else {
          out += c;
        }
      }
    };
    const plainUntil = (stops) => {
      const start = i;
      const keyEnd = (c) => c === undefined || c === " " || stops.includes(c);
      while (i < s.length && !stops.includes(s[i]) && !(s[i] === ":" && keyEnd(s[i + 1]))) i++;
      return s.slice(start, i).trim();
    };
    const node = (inFlow) => {
      skip();
      if (s[i] === "{") return mapping();
      if (s[i] === "[") return sequence();
      if (s[i] === '"' || s[i] === "'") return quoted();
      if (!inFlow) return plain(s.slice(i).replace(/\s+#.*$/, "").trim());
      return plain(plainUntil(",]}"));
    };
    const mapping = () => {
      const out = {};
      i++;
      for (skip(); s[i] !== "}"; skip()) {
        const key = s[i] === '"' || s[i] === "'" ? quoted() : plainUntil(",}");
        skip();
        if (s[i++] !== ":") fail(lineNo, "expected ':' in a flow mapping");
        out[key] = node(true);
        skip();
        if (s[i] === ",") i++;
        else if (s[i] !== "}") fail(lineNo, "expected ',' or '}'");
      }
      i++;
      return out;
    };
    const sequence = () => {
      const out = [];
      i++;
      for (skip(); s[i] !== "]"; skip()) {
        out.push(node(true));
        skip();
        if (s[i] === ",") i++;
        else if (s[i] !== "]") fail(lineNo, "expected ',' or ']'");
      }
      i++;
      return out;
    };
    return {
      value() {
        skip();
        const structured = /^[[{"']/.test(s.slice(i));
        const v = node(false);
        const after = structured ? s.slice(i).trim() : "";
        if (after !== "" && !after.startsWith("#")) fail(lineNo, `text after a value: ${after}`);
        return v;
      },
      key() {
        skip();
        const k = s[i] === '"' || s[i] === "'" ? quoted() : plainUntil("");
        skip();
        if (s[i] !== ":" || (i + 1 < s.length && s[i + 1] !== " ")) return null;
        i++;
        return { key: k, rest: s.slice(i).trim() };
      },
    };
  }

  function parse(text) {
    const lines = text.replace(/\r\n/g, "\n").split("\n");
    let n = 0;

    const nextSignificant = () => {
      while (n < lines.length && blank(lines[n])) n++;
      return n < lines.length ? n : -1;
    };

    const blockScalar = (header, parentIndent) => {
      const folded = header[0] === ">";
      const chomp = header.includes("-") ? "strip" : header.includes("+") ? "keep" : "clip";
      const body = [];
      let indent = -1;
      for (; n < lines.length; n++) {
        const line = lines[n];
        if (line.trim() === "") {
          body.push("");
          continue;
        }
        if (indentOf(line) <= parentIndent) break;
        if (indent < 0) indent = indentOf(line);
        body.push(line.slice(indent));
      }
      let trailing = 0;
      while (body.length && body[body.length - 1] === "") {
        body.pop();
        trailing++;
      }
      let out = "";
      if (folded) {
        let prevText = false;
        for (const l of body) {
          if (l === "") out += "\n";
          else out += (prevText ? " " : "") + l;
          prevText = l !== "";
        }
      } else {
        out = body.join("\n");
      }
      if (chomp === "strip" || body.length === 0) return out;
      return out + "\n" + (chomp === "keep" ? "\n".repeat(trailing) : "");
    };

    const value = (rest, lineNo, parentIndent) => {
      if (rest === "" || rest.startsWith("#")) {
        const next = nextSignificant();
        if (next < 0) return null;
        const ind = indentOf(lines[next]);
        if (ind > parentIndent || (ind === parentIndent && lines[next].trimStart().startsWith("- ")))
          return block(ind);
        return null;
      }
      if (/^[|>][-+]?$/.test(rest)) return blockScalar(rest, parentIndent);
      return flowReader(rest, lineNo).value();
    };

    const mapping = (indent) => {
      const out = {};
      for (let at = nextSignificant(); at >= 0 && indentOf(lines[at]) === indent; at = nextSignificant()) {
        const line = lines[at];
        if (line.trimStart().startsWith("- ")) break;
        const kv = flowReader(line.slice(indent), at).key();
        if (!kv) fail(at, "expected 'key: value'");
        if (kv.key in out) fail(at, `key ${kv.key} twice`);
        n = at + 1;
        out[kv.key] = value(kv.rest, at, indent);
      }
      return out;
    };

    const sequence = (indent) => {
      const out = [];
      for (let at = nextSignificant(); at >= 0 && indentOf(lines[at]) === indent; at = nextSignificant()) {
        const line = lines[at];
        const t = line.trimStart();
        if (t !== "-" && !t.startsWith("- ")) break;
        const content = t.slice(1).trimStart();
        const col = indent + (t.length - content.length);
        if (content === "" || content.startsWith("#")) {
          n = at + 1;
          out.push(value("", at, indent));
        } else if (!/^[[{"']/.test(content) && /(: |:$)/.test(content)) {
          lines[at] = " ".repeat(col) + content; /* "- a: 1" is the mapping "a: 1" one deeper */
          out.push(mapping(col));
        } else {
          n = at + 1;
          out.push(flowReader(content, at).value());
        }
      }
      return out;
    };

    const block = (indent) => {
      const at = nextSignificant();
      const t = lines[at].trimStart();
      return t === "-" || t.startsWith("- ") ? sequence(indent) : mapping(indent);
    };

    const first = nextSignificant();
    if (first < 0) return null;
    const doc = block(indentOf(lines[first]));
    const rest = nextSignificant();
    if (rest >= 0) fail(rest, "unexpected indentation");
    return doc;
  }

  return { parse };
})();
