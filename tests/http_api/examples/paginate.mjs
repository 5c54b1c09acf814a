const HEADERS = {
  "Content-Type": "application/json",
  "X-API-Key": process.env.BULKSMS_API_KEY,
  "X-API-Secret": process.env.BULKSMS_API_SECRET,
};

async function* paginate(url, headers) {
  let cursor = null;
  do {
    const qs = cursor ? `?cursor=${cursor}&page_size=500` : '?page_size=500';
    const res = await fetch(url + qs, { headers });
    const body = await res.json();
    yield* body.data;
    cursor = body.pagination.has_more ? body.pagination.cursor : null;
  } while (cursor);
}

// Usage:
for await (const msg of paginate(
  "https://app.bulksmsrates.com/v1/reports/messages", HEADERS
)) {
  console.log(msg.message_id, msg.status);
}
