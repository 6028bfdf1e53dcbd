// Median, quantiles and how times are printed. Quantiles interpolate linearly between the two
// nearest samples (numpy's default), so a median of an even count is the mean of the middle two;
// an empty list gives NaN, printed as a dash rather than as a number that was never measured.
export const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
};
export const median = (values: readonly number[]): number => quantile(values, 0.5);
/** Microseconds, as ms from 10 ms up. */
export const us = (value: number): string => (Number.isNaN(value) ? '—' : value >= 10_000 ? `${(value / 1000).toFixed(1)} ms` : `${Math.round(value)} µs`);
export const ms = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '—' : `${Math.round(value)} ms`);
