/**
 * Whether a string is one of our row ids (a positive bigint, as the API shows
 * it): anything else cannot name a row, so it answers 404 without a query.
 */
export const isRowId = (s: string): boolean => /^\d{1,18}$/.test(s);
