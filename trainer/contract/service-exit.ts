/**
 * The trainer service's exit code when the server refuses its token (401/403: revoked, its owner
 * deactivated or no longer an admin, decision 0021). What runs the service (the embedded trainer
 * of `npm start`) reads it to mint a fresh token instead of restarting with the refused one.
 */
export const TOKEN_REFUSED_EXIT = 3;
