// Account → Passkeys (filled in below).
export async function showPasskeys() {}
