const BASE = "https://app.bulksmsrates.com/v1";
const HEADERS = {
  "Content-Type": "application/json",
  "X-API-Key": process.env.BULKSMS_API_KEY,
  "X-API-Secret": process.env.BULKSMS_API_SECRET,
};

const api = {
  // Send single SMS
  async sendSms(to, body, from = "MyApp") {
    const res = await fetch(`${BASE}/sms/send`, {
      method: "POST", headers: HEADERS,
      body: JSON.stringify({ to, from, body }),
    });
    return res.json();
  },

  // Send bulk SMS
  async sendBulk(recipients, body, from = "MyApp") {
    const res = await fetch(`${BASE}/sms/bulk`, {
      method: "POST", headers: HEADERS,
      body: JSON.stringify({ recipients, from, body }),
    });
    return res.json();
  },

  // Get balance
  async getBalance() {
    const res = await fetch(`${BASE}/billing/balance`, { headers: HEADERS });
    return res.json();
  },

  // List messages
  async listMessages(params = {}) {
    const qs = new URLSearchParams(params).toString();
    const res = await fetch(`${BASE}/reports/messages?${qs}`, { headers: HEADERS });
    return res.json();
  },
};

// Usage:
const result = await api.sendSms("+447700900123", "Hello!");
console.log(result.data.message_id);

const { data } = await api.getBalance();
console.log(`Balance: £${(data.balance / 100).toFixed(2)}`);
