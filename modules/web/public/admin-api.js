// How every script of the admin page calls the server: with the admin token this tab keeps (sessionStorage,
// stored by admin.js's sign-in once the server accepts it), JSON in and out, never from the HTTP cache.

export const TOKEN_KEY = "coupon.adminToken";
export const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
export const authorization = (token = storedToken()) => ({ authorization: `Bearer ${token}` });

/**
 * `{status, body}`: status 0 when the server cannot be reached, -1 when there is no token (nothing is
 * sent). `token` is the one being tried at sign-in, before it is kept.
 */
export async function adminApi(method, path, body, token = storedToken()) {
  if (!token) return { status: -1, body: null };
  const headers = authorization(token);
  if (body !== undefined) headers["content-type"] = "application/json";
  try {
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}
