// node tests/deploy/lib/header-limit.mjs NGINX_CONF FRAMING_H: the head nginx accepts fits what a
// service accepts (tests/deploy/gateway.test.sh, header_limit_fits, says how). Prints the
// figures; throws (exit 1) when it does not fit or a setting is missing.
import { readFileSync } from "node:fs";

const [confFile, srcFile] = process.argv.slice(2);
const conf = readFileSync(confFile, "utf8").replace(/#.*$/gm, "");
const src = readFileSync(srcFile, "utf8");
const bytes = (v) => Number(v.replace(/k$/i, "")) * (/k$/i.test(v) ? 1024 : 1);
const first = conf.match(/^\s*client_header_buffer_size\s+(\d+k?);/m);
const large = conf.match(/^\s*large_client_header_buffers\s+(\d+)\s+(\d+k?);/m);
if (!first || !large)
  throw new Error("nginx.conf sets no client_header_buffer_size or large_client_header_buffers");
const head = bytes(first[1]) + Number(large[1]) * bytes(large[2]);
const limit = (name) => {
  const m = src.match(new RegExp(name + "\\s*=\\s*(\\d+)"));
  if (!m) throw new Error("no " + name + " = N in " + srcFile);
  return Number(m[1]);
};
const headMax = limit("FRAMING_HEAD_MAX"), lineMax = limit("FRAMING_REQUEST_LINE_MAX");
if (head > headMax)
  throw new Error(`the gateway passes heads of up to ${head} bytes, over the services ${headMax}`);
if (bytes(large[2]) > lineMax)
  throw new Error(`the gateway passes lines of ${bytes(large[2])} bytes, over the services ${lineMax}`);
console.log(`${head} bytes <= ${headMax}, lines ${bytes(large[2])} <= ${lineMax}`);
