-- The wrk script behind load-test/run.sh: the flows of scenarios.lua, pacing, and the report.
--
-- One wrk thread is one virtual user (VU) with one keep-alive connection (run.sh passes as many
-- threads as connections), so a VU's requests and answers strictly alternate and a step can use
-- what the previous answer said (the id of the user it created). Each iteration a VU picks a
-- flow by the scenario's weights and sends that flow's requests one after the other.
--
-- Settings come from the environment, because wrk decides whether a script paces its requests
-- (has delay()) when it loads it, before any argument reaches init():
--   LOAD_SCENARIO  a name from scenarios.lua (default mixed)
--   LOAD_VUS       how many VUs (= wrk connections) run; needed to split LOAD_RATE between them
--   LOAD_RATE      requests/s over all VUs; each VU sends on its own schedule of VUS/RATE s and
--                  never has two requests out, so when answers are slower the achieved rate
--                  falls below it (reported). 0: as fast as answers come
--   LOAD_THINK_MS  a pause between an answer and the VU's next request (0: none)
--   LOAD_RUN       a run id that keeps emails, cart ids and Idempotency-Keys unique (run.sh)
--   LOAD_PRODUCTS  the product ids to use, comma-separated (default 1..27, the seed catalog)
--   LOAD_TARGET    what the report names as the target
-- The report (done) prints requests/s, latency percentiles, answers by status with the
-- expected ones marked, and one "summary" line of key=value pairs that run.sh and tests read.

local scenarios = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "scenarios.lua")

local ffi = require("ffi")
ffi.cdef([[
struct ms_load_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct ms_load_timespec *ts);
]])
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("struct ms_load_timespec")

local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
    return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local function env_number(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        return default
    end
    local n = tonumber(v)
    if n == nil or n < 0 then
        error(name .. ": not a number >= 0: " .. v)
    end
    return n
end

local SCENARIO = os.getenv("LOAD_SCENARIO") or "mixed"
local WEIGHTS = scenarios[SCENARIO]
if not WEIGHTS then
    error("LOAD_SCENARIO: unknown scenario " .. SCENARIO)
end
local VUS = math.max(1, env_number("LOAD_VUS", 1))
local RATE = env_number("LOAD_RATE", 0)
local THINK_MS = env_number("LOAD_THINK_MS", 0)
local RUN = os.getenv("LOAD_RUN") or tostring(os.time())
local RUN_NUM = tonumber((RUN:gsub("%D", ""):sub(-6))) or 0
local TARGET = os.getenv("LOAD_TARGET") or (wrk.scheme .. "://" .. wrk.host .. ":" .. (wrk.port or ""))

local PRODUCTS = {}
for id in (os.getenv("LOAD_PRODUCTS") or ""):gmatch("%d+") do
    PRODUCTS[#PRODUCTS + 1] = tonumber(id)
end
if #PRODUCTS == 0 then
    for id = 1, 27 do
        PRODUCTS[id] = id
    end
end

-- Which answers each request may get. Anything else is counted as unexpected.
local EXPECTED = {
    ["browse.list"] = { [200] = "ok" },
    ["browse.detail"] = { [200] = "ok" },
    ["cart.add"] = { [200] = "ok" },
    ["cart.view"] = { [200] = "ok" },
    ["cart.remove"] = { [200] = "ok" },
    ["checkout.signup"] = { [201] = "ok" },
    ["checkout.add"] = { [200] = "ok" },
    ["checkout.order"] = { [201] = "ok", [409] = "sold out" },
}
local STEP_ORDER = {
    "browse.list", "browse.detail", "cart.add", "cart.view", "cart.remove",
    "checkout.signup", "checkout.add", "checkout.order",
}
local STEP_LABEL = {
    ["browse.list"] = "GET /products?limit=20&offset=",
    ["browse.detail"] = "GET /products/{id}",
    ["cart.add"] = "POST /cart/{vu}",
    ["cart.view"] = "GET /cart/{vu}",
    ["cart.remove"] = "DELETE /cart/{vu}/{id}",
    ["checkout.signup"] = "POST /users (once per VU)",
    ["checkout.add"] = "POST /cart/{user}",
    ["checkout.order"] = "POST /orders + Idempotency-Key",
}

-- The flows in a fixed order, with cumulative weights for the draw.
local FLOW_NAMES, FLOW_CUMULATIVE, WEIGHT_TOTAL = {}, {}, 0
for _, name in ipairs({ "browse", "cart", "checkout" }) do
    if WEIGHTS[name] and WEIGHTS[name] > 0 then
        WEIGHT_TOTAL = WEIGHT_TOTAL + WEIGHTS[name]
        FLOW_NAMES[#FLOW_NAMES + 1] = name
        FLOW_CUMULATIVE[#FLOW_CUMULATIVE + 1] = WEIGHT_TOTAL
    end
end
for name in pairs(WEIGHTS) do
    if name ~= "browse" and name ~= "cart" and name ~= "checkout" then
        error("scenario " .. SCENARIO .. ": unknown flow " .. name)
    end
end

---------------------------------------------------------------------------------------------
-- The main thread: number the VUs, then report.

local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
    thread:set("vu_index", #threads)
end

---------------------------------------------------------------------------------------------
-- A VU (each wrk thread's own Lua state from here on).

-- Answers per step and status, for done(). wrk 4.1's thread:get copies nested tables wrongly
-- (it pops the stack once too often), so each count is a global number "n:<step>:<status>"
-- and the global string `seen` lists the "<step>:<status>" pairs that occurred.
seen = ""
late = 0 -- paced sends that were already behind their schedule

local vu = { user = nil, sent = 0 }
local queue, current = {}, nil
local JSON = { ["Content-Type"] = "application/json" }

local function product()
    return PRODUCTS[math.random(#PRODUCTS)]
end

local function step(name, method, path, body, headers, on_answer)
    return { name = name, method = method, path = path, body = body, headers = headers,
             on_answer = on_answer }
end

local function browse()
    if math.random(4) == 1 then
        return { step("browse.list", "GET", "/products?limit=20&offset=" .. (math.random(2) - 1) * 20) }
    end
    return { step("browse.detail", "GET", "/products/" .. product()) }
end

local function cart()
    local id = product()
    local path = "/cart/" .. vu.cart_id
    return {
        step("cart.add", "POST", path, '{"product_id":' .. id .. ',"quantity":1}', JSON),
        step("cart.view", "GET", path),
        step("cart.remove", "DELETE", path .. "/" .. id),
    }
end

local function remember_user(status, body)
    if status == 201 then
        vu.user = tonumber(body:match('"id"%s*:%s*(%d+)'))
    end
    return vu.user ~= nil -- without a user the rest of the checkout is dropped
end

local function checkout()
    local steps = {}
    if not vu.user then
        vu.signups = (vu.signups or 0) + 1
        local email = string.format("load-%s-%d-%d@example.com", RUN, vu.index, vu.signups)
        steps[1] = step("checkout.signup", "POST", "/users",
            '{"email":"' .. email .. '","name":"Load Test"}', JSON, remember_user)
    end
    local id = product()
    -- paths and bodies that need the user are made when the step is sent (after the signup)
    steps[#steps + 1] = step("checkout.add", "POST", function()
        return "/cart/" .. vu.user
    end, '{"product_id":' .. id .. ',"quantity":1}', JSON)
    steps[#steps + 1] = step("checkout.order", "POST", "/orders", function()
        return '{"user_id":' .. vu.user .. "}"
    end, function()
        vu.orders = (vu.orders or 0) + 1
        return { ["Content-Type"] = "application/json",
                 ["Idempotency-Key"] = string.format("load-%s-%d-%d", RUN, vu.index, vu.orders) }
    end)
    return steps
end

local FLOWS = { browse = browse, cart = cart, checkout = checkout }

local function next_flow()
    local r = math.random() * WEIGHT_TOTAL
    for i, limit in ipairs(FLOW_CUMULATIVE) do
        if r < limit then
            return FLOWS[FLOW_NAMES[i]]()
        end
    end
    return FLOWS[FLOW_NAMES[#FLOW_NAMES]]()
end

local function value(v)
    if type(v) == "function" then
        return v()
    end
    return v
end

function init(args)
    vu.index = vu_index or 1
    -- carts of the cart flow need no user: a cart id of its own per VU and run (1..2^31-1)
    vu.cart_id = 1000000000 + (RUN_NUM % 1000000) * 1000 + vu.index % 1000
    math.randomseed(RUN_NUM * 7919 + vu.index)
    verify_pending = vu.index == 1
end

local function count(name, status)
    local key = "n:" .. name .. ":" .. status
    local n = _G[key]
    if not n then
        seen = seen .. name .. ":" .. status .. " "
        n = 0
    end
    _G[key] = n + 1
end

function request()
    if verify_pending then
        -- wrk calls the first thread's request() once after init() to check what it returns;
        -- that request is never sent, so it must not use up a step
        verify_pending = false
        return wrk.format("GET", "/")
    end
    if #queue == 0 then
        queue = next_flow()
    end
    current = table.remove(queue, 1)
    vu.sent = vu.sent + 1
    return wrk.format(current.method, value(current.path), value(current.headers), value(current.body))
end

function response(status, headers, body)
    if not current then
        return
    end
    count(current.name, status)
    if current.on_answer and not current.on_answer(status, body) then
        queue = {}
    elseif not EXPECTED[current.name][status] then
        queue = {} -- the next steps of this flow would fail for the same reason
    end
    current = nil
end

-- Pacing: defined only when asked for, since wrk then sends every request through a timer.
if RATE > 0 then
    local interval = VUS * 1000 / RATE
    local due = nil
    function delay()
        local t = now_ms()
        if not due then
            due = t + math.random() * interval -- spread the VUs' first requests
        else
            due = due + interval
            if due < t then
                late = late + 1
                due = t -- behind schedule: send now, and do not burst to catch up
            end
        end
        return math.floor(due - t + THINK_MS)
    end
elseif THINK_MS > 0 then
    function delay()
        return THINK_MS
    end
end

---------------------------------------------------------------------------------------------
-- The report, in the main thread.

local function ms(us)
    return string.format("%.2f", us / 1000)
end

function done(summary, latency, requests)
    local by_step, by_status = {}, {}
    local total_late = 0
    for _, t in ipairs(threads) do
        for name, status_text in (t:get("seen") or ""):gmatch("([%w.]+):(%d+) ") do
            local status, n = tonumber(status_text), t:get("n:" .. name .. ":" .. status_text)
            by_step[name] = by_step[name] or {}
            do
                by_step[name][status] = (by_step[name][status] or 0) + n
                by_status[status] = by_status[status] or { n = 0, expected = {}, unexpected = 0 }
                local s = by_status[status]
                s.n = s.n + n
                local why = EXPECTED[name][status]
                if why then
                    s.expected[why] = true
                else
                    s.unexpected = s.unexpected + n
                end
            end
        end
        total_late = total_late + (t:get("late") or 0)
    end

    local secs = summary.duration / 1e6
    local rps = summary.requests / secs
    local e = summary.errors
    local socket_errors = e.connect + e.read + e.write + e.timeout
    local unexpected = 0
    local mix = {}
    for i, name in ipairs(FLOW_NAMES) do
        local w = FLOW_CUMULATIVE[i] - (FLOW_CUMULATIVE[i - 1] or 0)
        mix[#mix + 1] = string.format("%s %d %%", name, math.floor(w * 100 / WEIGHT_TOTAL + 0.5))
    end
    local pacing = "closed loop: each VU sends its next request when the answer is in"
    if RATE > 0 then
        pacing = string.format("offered rate %g requests/s (%.1f ms apart per VU), achieved %.1f;"
            .. " %d sends were behind schedule", RATE, VUS * 1000 / RATE, rps, total_late)
    end
    if THINK_MS > 0 then
        pacing = pacing .. string.format(", think time %g ms", THINK_MS)
    end

    print("")
    print(string.format("scenario  %s (%s of the iterations)", SCENARIO, table.concat(mix, ", ")))
    print(string.format("target    %s, %d virtual users (one connection each), %.1f s",
        TARGET, #threads, secs))
    print(string.format("pacing    %s", pacing))
    print(string.format("requests  %d, %.1f requests/s", summary.requests, rps))
    print(string.format("latency   p50 %s ms  p90 %s ms  p99 %s ms  p99.9 %s ms  max %s ms",
        ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
        ms(latency:percentile(99.9)), ms(latency.max)))
    print("answers   by status (expected ones marked):")
    local statuses = {}
    for status in pairs(by_status) do
        statuses[#statuses + 1] = status
    end
    table.sort(statuses)
    for _, status in ipairs(statuses) do
        local s = by_status[status]
        local notes = {}
        for why in pairs(s.expected) do
            notes[#notes + 1] = why
        end
        table.sort(notes)
        local note = #notes > 0 and ("expected: " .. table.concat(notes, ", ")) or ""
        if s.unexpected > 0 then
            note = (note ~= "" and note .. "; " or "") .. s.unexpected .. " UNEXPECTED"
            unexpected = unexpected + s.unexpected
        end
        print(string.format("          %3d  %9d  %s", status, s.n, note))
    end
    print(string.format("errors    socket: connect %d, read %d, write %d, timeout %d",
        e.connect, e.read, e.write, e.timeout))
    print("by request:")
    for _, name in ipairs(STEP_ORDER) do
        if by_step[name] then
            local parts = {}
            for status, n in pairs(by_step[name]) do
                parts[#parts + 1] = { status, n }
            end
            table.sort(parts, function(a, b)
                return a[1] < b[1]
            end)
            for i, p in ipairs(parts) do
                parts[i] = string.format("%d x%d", p[1], p[2])
            end
            if #parts > 0 then
                print(string.format("          %-16s %-32s %s", name, STEP_LABEL[name],
                    table.concat(parts, "  ")))
            end
        end
    end
    print(string.format("summary scenario=%s vus=%d seconds=%.2f requests=%d rps=%.1f p50_ms=%s "
        .. "p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s unexpected=%d socket_errors=%d late=%d",
        SCENARIO, #threads, secs, summary.requests, rps, ms(latency:percentile(50)),
        ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency:percentile(99.9)),
        ms(latency.max), unexpected, socket_errors, total_late))
end
