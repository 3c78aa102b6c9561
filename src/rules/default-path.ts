// The rule file's default name, apart from the loader: every command's settings need it, and
// importing it from load.ts would load YAML, zod and the schema into commands that never read a
// rule file (sync tag, sync repo, records).
/** The rule file when neither -c nor IMGSYNC_CONFIG names one. */
export const DEFAULT_CONFIG_PATH = 'imgsync.yaml'
