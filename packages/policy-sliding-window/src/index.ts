export {
  HEAVY_HITTER_RULE_NAME,
  type HeavyHitterOptions,
  type HeavyHitterRule,
  heavyHitterRule,
} from './heavy-hitter.js';
export { SINK_RULE_NAME, sinkRule } from './sink-rule.js';
export {
  createSlidingWindowPolicy,
  DEFAULT_SINKS,
  DEFAULT_WINDOW,
  SLIDING_WINDOW_NAME,
  slidingWindowPolicy,
} from './sliding-window.js';
