/**
 * The PostgreSQL NOTIFY channel on which an ingest statement tells the
 * process holding a conversation's lease that messages arrived for it
 * elsewhere: payload `<lease owner>:<conversation id>`.
 */
export const WORK_CHANNEL = 'wagate_work';
