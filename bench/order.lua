-- make bench's POST /orders: one order of one random product for user BENCH_USER, items in the
-- body (no cart), so every request runs the saga (user, product, inventory reservation and
-- commit, the order and its outbox row) and nothing else. Stock is restocked before each run.
local user = os.getenv("BENCH_USER") or "1"
local products = tonumber(os.getenv("BENCH_PRODUCTS") or "27")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
    return wrk.format(nil, "/orders", nil, '{"user_id":' .. user .. ',"items":[{"product_id":'
        .. math.random(products) .. ',"quantity":1}]}')
end
