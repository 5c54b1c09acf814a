"""The Xquik document's engine side (seed 002): what its HTTP surface (http_api/xquik/) sells and meters.

    keys.py      xq_ API keys in the one key store (shown once, at most 100 per account)
    credits.py   credits: the currency XQC of the one micro-unit ledger, held by a ledger customer of
                 their own per account; reserve before metered work, capture what was used, release the
                 rest; bought through engine/payments (settled only when the payment is), auto top-up

Everything moves through billing's postings: `smsengine ledger check` covers credits as any currency.
"""
