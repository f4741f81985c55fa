export * from './latency-histogram'
export * from './telemetry-push'
