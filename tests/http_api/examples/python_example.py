import requests

BASE = "https://app.bulksmsrates.com/v1"
HEADERS = {
    "X-API-Key": "bsms_live_...",
    "X-API-Secret": "sk_live_...",
}

# Send SMS
def send_sms(to, body, sender="MyApp"):
    return requests.post(f"{BASE}/sms/send", headers=HEADERS,
        json={"to": to, "from": sender, "body": body}).json()

# Send bulk SMS
def send_bulk(recipients, body, sender="MyApp"):
    return requests.post(f"{BASE}/sms/bulk", headers=HEADERS,
        json={"recipients": recipients, "from": sender, "body": body}).json()

# Check balance
def get_balance():
    return requests.get(f"{BASE}/billing/balance", headers=HEADERS).json()

# List messages
def list_messages(status=None, page_size=50):
    params = {"page_size": page_size}
    if status: params["status"] = status
    return requests.get(f"{BASE}/reports/messages", headers=HEADERS, params=params).json()

# Usage:
print(send_sms("+447700900123", "Hello!"))
print(get_balance()["data"]["balance"])
msgs = list_messages(status="delivered")
