package main

import (
	"context"
	"fmt"
	"io"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/boot"
)

// demoPassword is the password of every demo account. Demo data only: the
// demo is for a laptop, never for a server people use.
const demoPassword = "Taizhou-2026"

var demoStaff = []account.Staff{
	{Login: "clerk", Name: "王窗口（城东街道）", Role: "street_clerk", Division: "321202001"},
	{Login: "officer", Name: "李科长（海陵区）", Role: "district_officer", Division: "321202"},
	{Login: "supervisor", Name: "赵督查（泰州市）", Role: "supervisor", Division: "321200"},
	{Login: "admin", Name: "系统管理员", Role: "admin", Division: "321200"},
}

// Demo applicant: a valid example ID number from GB 11643 and a mobile number.
const (
	demoApplicantID     = "321202199001010017"
	demoApplicantMobile = "13800000001"
)

// seedDemo creates the demo accounts that do not exist yet and prints how to
// log in. Running it again changes nothing.
func seedDemo(ctx context.Context, p *boot.Portal, out io.Writer) error {
	actor := portal.Actor{System: "demo", IP: "local"}
	if _, err := p.DB.UserByMobile(ctx, demoApplicantMobile); portal.ErrorCode(err) == portal.ENOTFOUND {
		if _, err := p.Accounts.Register(ctx, actor, account.Registration{Name: "张三", IDNumber: demoApplicantID,
			Mobile: demoApplicantMobile, Password: demoPassword}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	for _, s := range demoStaff {
		if _, err := p.DB.UserByLogin(ctx, s.Login); portal.ErrorCode(err) != portal.ENOTFOUND {
			if err != nil {
				return err
			}
			continue
		}
		s.Password = demoPassword
		s.DeferTOTP = true // with PORTAL_STAFF_MFA=on, the app is set up at first login
		if _, _, err := p.Accounts.AddStaff(ctx, actor, s); err != nil {
			return err
		}
	}
	// The origin registry confirms hukou move-outs through the API with a
	// token, shown once: when the demo first creates the account.
	registry := "        (its token was shown when it was created)"
	if _, err := p.DB.UserByLogin(ctx, demoRegistry); portal.ErrorCode(err) == portal.ENOTFOUND {
		_, token, err := p.Accounts.AddSystem(ctx, actor, demoRegistry, "迁出地户籍系统（演示）", "origin_registry", "321200")
		if err != nil {
			return err
		}
		registry = "        Authorization: Bearer " + token
	} else if err != nil {
		return err
	}
	fmt.Fprintf(out, `
Demo accounts (password for all: %s)
  applicant         login %s (or ID number %s)
  street clerk      login clerk        城东街道 321202001
  district officer  login officer      海陵区 321202
  supervisor        login supervisor   泰州市 321200
  admin             login admin        泰州市 321200
  origin registry   system %s     confirms hukou move-outs through the API
%s

`, demoPassword, demoApplicantMobile, demoApplicantID, demoRegistry, registry)
	return nil
}

// demoRegistry is the login of the demo's origin registry system account.
const demoRegistry = "registry"
