"""Payments: money in from a payment provider, as ledger top-ups with invoices.

`provider` declares what the engine needs from a provider (a checkout session, an off-session charge of a
saved card, verified webhook events); `stripe_provider` implements it with Stripe's official SDK, its base
URL configurable. `service.Payments` is the reusable service: create a checkout, settle what the provider
says was paid (top-up + invoice, once, in one transaction), run auto top-up. `invoice_pdf` renders an
invoice. Anything that sells credit (SMS balance, platform credits) tops up through `Payments`.
"""
