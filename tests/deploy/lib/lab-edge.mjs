// A loopback edge that answers GET /products/1 as the shop's canary does, for scripts/lab/check.mjs
// without a cluster: as product v2 ("badge":"SALE") for SHARE requests in every 100, and for
// x-user-type: vip always when VIP, never otherwise (VIP requests do not count in the share).
//   import { startEdge } from "./lib/lab-edge.mjs"   startEdge(share, vip) -> {url, close}
//   node tests/deploy/lib/lab-edge.mjs PORT_FILE SHARE VIP(0|1) &   writes its port to PORT_FILE,
//                                                   stops after 5 minutes at the latest
import { writeFileSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";

export function startEdge(share, vip) {
  let n = 0;
  const server = http.createServer((req, res) => {
    const v2 = req.headers["x-user-type"] === "vip" ? vip : n++ % 100 < share;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(v2 ? { id: 1, badge: "SALE" } : { id: 1 }));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () =>
    resolve({ url: `http://127.0.0.1:${server.address().port}`, port: server.address().port, close: () => server.close() })));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [portFile, share, vip] = process.argv.slice(2);
  const edge = await startEdge(Number(share), vip === "1");
  writeFileSync(portFile, String(edge.port));
  setTimeout(() => process.exit(0), 300000).unref();
}
