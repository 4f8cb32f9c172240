-- The request stream of the HTTP benchmark; scripts/bench.py runs it as
--
--   BENCH_POP=hot1k BENCH_HOT=tokens-hot.txt BENCH_NEW=tokens-new.txt \
--     wrk -t1 -c32 -d5s --latency -s scripts/bench.lua http://127.0.0.1:PORT/me
--
-- BENCH_POP, the population of bearer tokens sent:
--   one    the first token of BENCH_HOT on every request;
--   hot1k  round-robin over the tokens of BENCH_HOT;
--   mix    every 5th request the next unused token of BENCH_NEW, the others round-robin
--          over BENCH_HOT (80% hot, 20% never seen);
--   new    every request the next unused token of BENCH_NEW.
-- No token of BENCH_NEW is sent twice. When the file runs out the thread stops, the run
-- ends early, and the duration reported is the time until then rather than wrk's -d.
--
-- done() prints one line for bench.py (latencies and durations in microseconds):
--   BENCH requests=N duration_us=N non2xx=N socket_errors=N p50_us=N p95_us=N p99_us=N new_used=N ran_out=0|1
--
-- wrk runs setup() and done() in one Lua state, and init(), request() and response() in
-- each thread's own state: done() reads the thread's counters (globals) with thread:get.
-- One thread only (-t1): two threads would each read BENCH_NEW from its first line.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1 -- Linux

local function now_us()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

---------------------------------------------------------------------------------------
-- Thread state: init(), request(), response().

-- Read by done() through thread:get, hence globals.
non2xx = 0       -- responses whose status was not 200
new_used = 0     -- tokens taken from BENCH_NEW
ran_out = false  -- BENCH_NEW exhausted
elapsed_us = 0   -- from init() to running out, when ran_out

local pop         -- BENCH_POP
local hot = {}    -- one pre-built request per hot token
local hot_i = 0   -- index of the last hot request sent
local new_file    -- BENCH_NEW, read a line per new-token request (mix, new)
local sent = 0    -- request() calls
local started_us  -- when init() ran, just before wrk starts its clock
local filler      -- sent once out of new tokens, until the thread stops: carries no token

local function bearer(token)
  return wrk.format(nil, nil, { Authorization = "Bearer " .. token })
end

function init(args)
  pop = os.getenv("BENCH_POP")
  assert(pop == "one" or pop == "hot1k" or pop == "mix" or pop == "new",
    "BENCH_POP must be one, hot1k, mix or new")
  local hot_path = assert(os.getenv("BENCH_HOT"), "BENCH_HOT is not set")
  for token in io.lines(hot_path) do
    if token ~= "" then
      hot[#hot + 1] = bearer(token)
      if pop == "one" then break end
    end
  end
  assert(#hot > 0, "BENCH_HOT holds no token")
  if pop == "mix" or pop == "new" then
    local new_path = assert(os.getenv("BENCH_NEW"), "BENCH_NEW is not set")
    new_file = assert(io.open(new_path))
  end
  filler = wrk.format(nil, "/healthz")
  started_us = now_us()
end

-- The next never-sent token of BENCH_NEW, or nil (and ran_out) once it is exhausted.
local function next_new()
  if ran_out then return nil end
  local token = new_file:read("*l")
  if token == nil or token == "" then
    ran_out = true
    elapsed_us = now_us() - started_us
    return nil
  end
  new_used = new_used + 1
  return token
end

function request()
  sent = sent + 1
  if pop == "new" or (pop == "mix" and sent % 5 == 0) then
    local token = next_new()
    -- Out of new tokens: response() stops the thread; connections that ask for a request
    -- before the loop ends get the filler, so no token repeats.
    return token and bearer(token) or filler
  end
  hot_i = hot_i % #hot + 1
  return hot[hot_i]
end

function response(status, headers, body)
  if status ~= 200 then non2xx = non2xx + 1 end
  if ran_out then wrk.thread:stop() end
end

---------------------------------------------------------------------------------------
-- Main state: setup(), done().

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  assert(#threads == 1, "bench.lua drives one thread only (wrk -t1)")
end

function done(summary, latency, requests)
  local thread = threads[1]
  local e = summary.errors
  local exhausted = thread:get("ran_out")
  local duration_us = exhausted and thread:get("elapsed_us") or summary.duration
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d socket_errors=%d"
      .. " p50_us=%d p95_us=%d p99_us=%d new_used=%d ran_out=%d\n",
    summary.requests, math.floor(duration_us), thread:get("non2xx"),
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    thread:get("new_used"), exhausted and 1 or 0))
end
