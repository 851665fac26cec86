// The one script that checks every rate limit of a route atomically: Lua for Redis, and its twin for memory.
import { defineScript, type LocalData } from '../store/store.ts';
import { BY_CODE, type Decision } from './algorithms.ts';

/** ARGV slots per limit, after ARGV[1]. */
export const ARGS_PER_LIMIT = 5;

/** With a test clock (ARGV[1]), TTLs are this much longer: the test clock lags Redis's real-time expiry. */
export const TEST_CLOCK_TTL_PAD_MS = 3_600_000;

/** Fixed slots at the head of the reply, then `REPLY_PER_LIMIT` per limit. */
export const REPLY_HEAD = 3;
export const REPLY_PER_LIMIT = 4;

/**
 * Reply, integers only (Redis turns Lua numbers into integer replies):
 *   [allowed 0|1, retryAfterMs (0 allowed, -1 never), nowMs,
 *    then per limit: allowed 0|1, remaining, resetMs, retryAfterMs]
 * When the request is denied nothing is written, and each limit's remaining/reset describe the
 * state as it stands (the limits that would have admitted it are read with cost 0).
 */
export type LimitsReply = number[];

// The algorithm functions mirror algorithms.ts line for line; change both together.
// Time comes from the Redis server (TIME) so instances whose clocks disagree still share windows.
const LUA = `-- edgegate: check every rate limit of a route, then commit all of them or none.
-- KEYS[i]                 state key of limit i
-- ARGV[1]                 now in ms for tests; '' in production, which reads the server clock (TIME).
--                         A test clock lags Redis's real-time expiry, so its TTLs get an hour more
--                         (harmless: an expired state decides like a missing one).
-- ARGV[2 + 5(i-1) .. +4]  limit i: algorithm (1 fixed, 2 sliding, 3 token bucket, 4 gcra), limit, window ms, burst, cost
if redis.replicate_commands then redis.replicate_commands() end
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min

local function pair(s)
  if not s then return nil end
  local a, b = string.match(s, '^(%d+):(%d+)$')
  if not a then return nil end
  return tonumber(a), tonumber(b)
end

local function fmt(...)
  local parts = {...}
  for i = 1, #parts do parts[i] = string.format('%.0f', parts[i]) end
  return table.concat(parts, ':')
end

-- each returns: allowed, remaining, resetMs, retryAfterMs, newState, ttlMs
local function fixed(state, now, limit, w, burst, cost)
  local start = floor(now / w) * w
  local count = 0
  local s0, s1 = pair(state)
  if s0 ~= nil and s0 == start then count = s1 end
  local reset = start + w - now
  if cost <= limit - count then
    count = count + cost
    return 1, max(0, limit - count), reset, 0, fmt(start, count), reset
  end
  local retry = reset
  if cost > limit then retry = -1 end
  return 0, max(0, limit - count), reset, retry, state, 0
end

local function sliding(state, now, limit, w, burst, cost)
  local start = floor(now / w) * w
  local elapsed = now - start
  local cur, prev = 0, 0
  if state then
    local a, b, c = string.match(state, '^(%d+):(%d+):(%d+)$')
    if a then
      local s = tonumber(a)
      if s == start then
        cur = tonumber(b)
        prev = tonumber(c)
      elseif s == start - w then prev = tonumber(b) end
    end
  end
  local weighted = prev * (w - elapsed) + cur * w
  if weighted + cost * w <= limit * w then
    cur = cur + cost
    weighted = weighted + cost * w
    local reset = 0
    if cur > 0 then reset = start + 2 * w - now
    elseif prev > 0 then reset = start + w - now end
    return 1, max(0, floor((limit * w - weighted) / w)), reset, 0, fmt(start, cur, prev), reset
  end
  local retry = -1
  if cost <= limit then
    local excess = weighted + cost * w - limit * w
    local t = w
    if prev > 0 then t = ceil(excess / prev) end
    if t < w - elapsed then retry = t
    else
      local over = (cur + cost - limit) * w
      retry = w - elapsed
      if over > 0 then retry = retry + ceil(over / cur) end
    end
  end
  local reset = 0
  if cur > 0 then reset = start + 2 * w - now
  elseif prev > 0 then reset = start + w - now end
  return 0, max(0, floor((limit * w - weighted) / w)), reset, retry, state, 0
end

local function bucket(state, now, limit, w, burst, cost)
  local tokens, last = burst, now
  local s0, s1 = pair(state)
  if s0 ~= nil then
    if now >= s1 then
      local n = floor((now - s1) / w)
      tokens = min(burst, s0 + n * limit)
      last = s1 + n * w
    else
      tokens = min(burst, s0)
      last = s1
    end
    if tokens >= burst then
      tokens = burst
      last = now
    end
  end
  if cost <= tokens then
    tokens = tokens - cost
    local reset = 0
    if tokens < burst then reset = last + ceil((burst - tokens) / limit) * w - now end
    return 1, tokens, reset, 0, fmt(tokens, last), reset
  end
  local reset = 0
  if tokens < burst then reset = last + ceil((burst - tokens) / limit) * w - now end
  local retry = -1
  if cost <= burst then retry = last + ceil((cost - tokens) / limit) * w - now end
  return 0, tokens, reset, retry, state, 0
end

local function gcra(state, now, limit, w, burst, cost)
  local debt = 0
  local s0, s1 = pair(state)
  if s0 ~= nil then debt = max(0, (s0 - now) * limit + s1) end
  local tolerance = burst * w
  local need = cost * w
  if debt + need <= tolerance then
    debt = debt + need
    local whole = floor(debt / limit)
    local reset = ceil(debt / limit)
    return 1, max(0, floor((tolerance - debt) / w)), reset, 0, fmt(now + whole, debt - whole * limit), reset
  end
  local retry = -1
  if cost <= burst then retry = ceil((debt + need - tolerance) / limit) end
  return 0, max(0, floor((tolerance - debt) / w)), ceil(debt / limit), retry, state, 0
end

local algorithms = { fixed, sliding, bucket, gcra }

local now
local pad = 0
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
  pad = 3600000
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end

local n = #KEYS
local reply = { 1, 0, now }
local states, news, ttls, oks = {}, {}, {}, {}
local ok = true
local retry = 0
for i = 1, n do
  local j = 2 + (i - 1) * 5
  local decide = algorithms[tonumber(ARGV[j])]
  local limit, w, burst, cost = tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4])
  local state = redis.call('GET', KEYS[i])
  states[i] = state
  local allowed, remaining, reset, ra, new, ttl = decide(state, now, limit, w, burst, cost)
  oks[i], news[i], ttls[i] = allowed, new, ttl
  if allowed == 0 then
    ok = false
    if ra < 0 or retry < 0 then retry = -1 else retry = max(retry, ra) end
  end
  local k = 4 + (i - 1) * 4
  reply[k], reply[k + 1], reply[k + 2], reply[k + 3] = allowed, remaining, reset, ra
end

if ok then
  for i = 1, n do
    if ttls[i] > 0 then redis.call('SET', KEYS[i], news[i], 'PX', ttls[i] + pad)
    else redis.call('DEL', KEYS[i]) end
  end
else
  reply[1] = 0
  reply[2] = retry
  for i = 1, n do
    if oks[i] == 1 then
      local j = 2 + (i - 1) * 5
      local _, remaining, reset = algorithms[tonumber(ARGV[j])](states[i], now, tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), 0)
      local k = 4 + (i - 1) * 4
      reply[k + 1], reply[k + 2] = remaining, reset
    end
  end
end
return reply
`;

/** The memory twin: the same steps over the memory store's data, with algorithms.ts's decisions. */
function local(data: LocalData, keys: string[], args: string[], nowMs: number): LimitsReply {
  const now = args[0] !== '' ? Number(args[0]) : nowMs;
  const pad = args[0] !== '' ? TEST_CLOCK_TTL_PAD_MS : 0;
  const n = keys.length;
  const reply: number[] = [1, 0, now];
  const states: (string | null)[] = [];
  const decisions: Decision[] = [];
  let ok = true;
  let retry = 0;
  for (let i = 0; i < n; i++) {
    const j = 1 + i * ARGS_PER_LIMIT;
    const decide = BY_CODE[Number(args[j])];
    if (decide === undefined) throw new Error(`ERR unknown rate-limit algorithm ${args[j]}`);
    const state = data.get(keys[i]);
    states.push(state);
    const d = decide(state, now, {
      limit: Number(args[j + 1]),
      windowMs: Number(args[j + 2]),
      burst: Number(args[j + 3]),
      cost: Number(args[j + 4]),
    });
    decisions.push(d);
    if (!d.allowed) {
      ok = false;
      retry = d.retryAfterMs < 0 || retry < 0 ? -1 : Math.max(retry, d.retryAfterMs);
    }
    reply.push(d.allowed ? 1 : 0, d.remaining, d.resetMs, d.retryAfterMs);
  }
  if (ok) {
    for (let i = 0; i < n; i++) {
      const d = decisions[i];
      if (d.ttlMs > 0) data.set(keys[i], d.newState as string, d.ttlMs + pad);
      else data.del(keys[i]);
    }
  } else {
    reply[0] = 0;
    reply[1] = retry;
    for (let i = 0; i < n; i++) {
      if (!decisions[i].allowed) continue;
      const j = 1 + i * ARGS_PER_LIMIT;
      const peek = (BY_CODE[Number(args[j])] as NonNullable<(typeof BY_CODE)[number]>)(states[i], now, {
        limit: Number(args[j + 1]),
        windowMs: Number(args[j + 2]),
        burst: Number(args[j + 3]),
        cost: 0,
      });
      const k = REPLY_HEAD + i * REPLY_PER_LIMIT;
      reply[k + 1] = peek.remaining;
      reply[k + 2] = peek.resetMs;
    }
  }
  return reply;
}

/** Defined once at module load; its SHA-1 is shared by every route and request. */
export const limitsScript = defineScript<LimitsReply>('edgegate.limits', LUA, local);
